package kmc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stskms/stskms/kmc"
)

func TestRoles(t *testing.T) {
	for _, r := range kmc.Roles {
		got, err := kmc.ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
	if _, err := kmc.ParseRole("admin"); !errors.Is(err, kmc.ErrInvalid) {
		t.Errorf("ParseRole(admin) = %v", err)
	}
	allowed := map[string]string{
		kmc.OpRead: "officer,operator,auditor", kmc.OpKeyRotate: "officer", kmc.OpSGCAdd: "operator",
		kmc.OpVKGenerate: "officer", kmc.OpVKImport: "officer", kmc.OpSMRegister: "operator", kmc.OpSMRevoke: "operator",
		kmc.OpKUAGrant: "operator", kmc.OpKUARevoke: "operator", kmc.OpKLFIssue: "operator", kmc.OpKLFList: "operator,auditor",
		kmc.OpAuditVerify: "officer,auditor", kmc.OpGatewayManage: "officer,operator", "no.such.op": "",
	}
	for op, roles := range allowed {
		for _, r := range append(kmc.Roles, kmc.Role(0)) {
			err := kmc.Allow(r.As("x"), op)
			want := r != 0 && strings.Contains(roles, r.String())
			if (err == nil) != want || (err != nil && !errors.Is(err, kmc.ErrRole)) {
				t.Errorf("Allow(%s, %s) = %v", r, op, err)
			}
		}
	}
}

func TestActorString(t *testing.T) {
	if s := kmc.Operator.As("pos\n-3\x7f").String(); s != "operator:pos-3" {
		t.Errorf("String = %q", s)
	}
	if s := kmc.Officer.As(strings.Repeat("a", 100)).String(); s != "officer:"+strings.Repeat("a", 64) {
		t.Errorf("String of a long name = %q", s)
	}
}
