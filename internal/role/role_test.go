package role

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, r := range All {
		if got, ok := Parse(r.String()); !ok || got != r {
			t.Errorf("Parse(%q) = %v, %v", r, got, ok)
		}
	}
	for _, s := range []string{"", "admin", "Officer", "officer ", "Role(0)"} {
		if got, ok := Parse(s); ok || got != 0 {
			t.Errorf("Parse(%q) = %v, %v; want 0, false", s, got, ok)
		}
	}
	if s := Role(0).String(); s != "Role(0)" {
		t.Errorf("Role(0).String() = %q", s)
	}
}

func TestActorString(t *testing.T) {
	tests := []struct {
		a    Actor
		want string
	}{
		{Operator.As("pos\n-3\x7f"), "operator:pos-3"},
		{Officer.As(strings.Repeat("a", 100)), "officer:" + strings.Repeat("a", 64)},
		{Auditor.As(""), "auditor:"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}
