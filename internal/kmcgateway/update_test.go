package kmcgateway_test

import (
	"context"
	"fmt"
	netsmtp "net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/stsatest"
	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/smmail"
)

const stsaSender = "registry@stsa.example"

// updateMail is a {KMS:SmUpdateStsEd2} request from from with file as its
// one text/plain attachment.
func updateMail(from, tag string, file []byte) []byte {
	const b = "stsa-boundary"
	return []byte("From: <" + from + ">\r\n" +
		"To: <" + loop.GatewayAddress + ">\r\n" +
		"Subject: {KMS:SmUpdateStsEd2} " + tag + "\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + tag + "@stsa.example>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n" +
		"--" + b + "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nRegistry update attached.\r\n" +
		"--" + b + "\r\nContent-Type: text/plain; charset=us-ascii\r\n" +
		"Content-Disposition: attachment; filename=\"smreg.txt\"\r\n\r\n" +
		string(file) + "--" + b + "--\r\n")
}

// TestGatewayRegistryUpdate drives {KMS:SmUpdateStsEd2} end to end over
// SMTP on 127.0.0.1: a real gateway in front of a test-mode KMC, replies
// caught by a real SMTP sink. Without an STSA key the service is not
// available; with one, the STS Association's update is applied and
// summarised; the same file again is stale; a tampered one is refused on
// its signature; anyone but the STSA sender is not authorised.
func TestGatewayRegistryUpdate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sink, err := smmail.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	stack, err := loop.StartKMCAndGatewayConfig(ctx, t.TempDir(), sink.Addr(), gateway.Config{STSASenders: []string{stsaSender}})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()

	stsa, file := stsatest.Key(t), stsatest.Update(t)

	send := func(from, tag string, file []byte) *smmail.Reply {
		t.Helper()
		if err := netsmtp.SendMail(stack.Submit, nil, from, []string{loop.GatewayAddress}, updateMail(from, tag, file)); err != nil {
			t.Fatal(err)
		}
		r, err := sink.Wait(ctx, from, func(r *smmail.Reply) bool {
			return strings.HasSuffix(r.Subject, tag) && r.Result.Kind != gwresult.Notice
		})
		if err != nil {
			t.Fatalf("%s: no reply: %v", tag, err)
		}
		return r
	}
	wantError := func(r *smmail.Reply, code string) {
		t.Helper()
		if r.Result.Kind != gwresult.Failure || r.Result.Code != code {
			t.Errorf("%q: result %+v, want Error %s", r.Subject, r.Result, code)
		}
	}

	wantError(send(stsaSender, "u0", file), gwresult.ENotAvailable)

	if _, err := stack.KMC.AddSTSAKey(ctx, "test", &stsa.PublicKey); err != nil {
		t.Fatal(err)
	}
	wantError(send("someone@utility.example", "u1", file), gwresult.ENotAuthorisedSender)

	r := send(stsaSender, "u2", file)
	if r.Result.Kind != gwresult.Success || !strings.Contains(r.Result.Text, "registry update 1 (STSA key 7FBF627760988F3D) applied: 1 modules, 1 added") {
		t.Fatalf("result %+v", r.Result)
	}
	sms, err := stack.KMC.SMs(ctx)
	if err != nil || len(sms) != 1 || !sms[0].Certified || sms[0].Virtual || sms[0].SMID != stsatest.Module(t).SMID {
		t.Fatalf("registry %+v, %v", sms, err)
	}

	wantError(send(stsaSender, "u3", file), gwresult.ESmUpdateStale)

	tampered := strings.Replace(string(file), "|vending|Y|N|", "|vending|Y|Y|", 1)
	if tampered == string(file) {
		t.Fatal("nothing tampered")
	}
	// Re-wrap the tampered record with a right CRC, so that only the
	// signature can tell.
	blocks, err := armor.ParseFile([]byte(tampered))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, b := range blocks {
		lines = append(lines, b.Body)
	}
	i := strings.LastIndexByte(lines[1], '|')
	lines[1] = fmt.Sprintf("%s%04X", lines[1][:i+1], records.CRC16Modbus(lines[1][:i+1]))
	lines[0] = strings.Replace(lines[0], "|1|1|", "|2|1|", 1)
	i = strings.LastIndexByte(lines[0], '|')
	lines[0] = fmt.Sprintf("%s%04X", lines[0][:i+1], records.CRC16Modbus(lines[0][:i+1]))
	bad, err := armor.File(lines...)
	if err != nil {
		t.Fatal(err)
	}
	wantError(send(stsaSender, "u4", bad), gwresult.ESmUpdateSignature)
	if sms, _ := stack.KMC.SMs(ctx); len(sms) != 1 || sms[0].Revoked {
		t.Errorf("a refused update changed the registry: %+v", sms)
	}
}
