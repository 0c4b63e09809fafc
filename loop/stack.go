package loop

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// Stack is a test-mode KMC and its e-mail gateway on 127.0.0.1, as the
// loop runs them; tests of mail clients start one with StartKMCAndGateway.
type Stack struct {
	// KMC is the test-mode KMC.
	KMC *kmc.KMC
	// Fingerprint is the KMC key's fingerprint, as published out of band.
	Fingerprint string
	// KMCID is the KMC key's KMCID.
	KMCID string
	// Submit is the gateway's SMTP server, host:port.
	Submit string
	// Address is the gateway's address (GatewayAddress).
	Address string

	gwDB   *store.DB
	srv    interface{ Close() error }
	stop   context.CancelFunc
	gwDone chan error
}

// StartKMCAndGateway makes a test-mode KMC in dir/kmc and starts its
// gateway with the default configuration: SMTP on 127.0.0.1:0, replies
// relayed to relay (host:port).
func StartKMCAndGateway(ctx context.Context, dir, relay string) (*Stack, error) {
	return StartKMCAndGatewayConfig(ctx, dir, relay, gateway.Config{})
}

// Close stops the gateway and closes the KMC.
func (s *Stack) Close() error {
	var errs []error
	if s.stop != nil {
		s.stop()
		<-s.gwDone
		s.stop = nil
	}
	if s.srv != nil {
		errs = append(errs, ignoreClosed(s.srv.Close()))
		s.srv = nil
	}
	if s.gwDB != nil {
		errs = append(errs, s.gwDB.Close())
		s.gwDB = nil
	}
	if s.KMC != nil {
		errs = append(errs, s.KMC.Close())
		s.KMC = nil
	}
	return errors.Join(errs...)
}

// Algorithms are the DKGA and EA numbers of a vending key.
type Algorithms struct{ DKGA, EA int }

// ImportKey imports a fresh DKGA04/EA11 vending key of SGC under dual
// control (two components) and returns it: the caller plays the meter
// manufacturer, who knows the keys its meters are made with. The supply
// group must exist (AddSupplyGroup).
func (s *Stack) ImportKey(ctx context.Context, krn int, kt kmc.KeyType) ([]byte, error) {
	return s.ImportKeyWith(ctx, krn, kt, Algorithms{DKGA: 4, EA: 11})
}

// ImportKeyWith is ImportKey for a vending key of the given algorithms.
func (s *Stack) ImportKeyWith(ctx context.Context, krn int, kt kmc.KeyType, alg Algorithms) ([]byte, error) {
	now := time.Now()
	a := kmc.VKAttributes{SGC: SGC, KRN: krn, Type: kt, BDT: 2014, DKGA: alg.DKGA, EA: alg.EA, KEN: 255,
		ACT: now.Add(-24 * time.Hour), EXP: now.AddDate(1, 0, 0), IUT: now.AddDate(2, 0, 0), CLM: 0xFFFFFFFF}
	key := make([]byte, a.KeySize())
	c1 := make([]byte, len(key))
	c2 := make([]byte, len(key))
	rand.Read(key)
	rand.Read(c1)
	subtle.XORBytes(c2, key, c1)
	var comps []kmc.KeyComponent
	for i, c := range [][]byte{c1, c2} {
		kcv, err := keyagree.KCV(c)
		if err != nil {
			return nil, err
		}
		comps = append(comps, kmc.KeyComponent{Officer: fmt.Sprintf("officer%d", i+1), Value: c, KCV: kcv})
	}
	if _, err := s.KMC.ImportVendingKey(ctx, actor, a, comps, nil); err != nil {
		return nil, err
	}
	return key, nil
}

// AddSupplyGroup adds the loop's supply group (SGC).
func (s *Stack) AddSupplyGroup(ctx context.Context) error {
	_, err := s.KMC.AddSupplyGroup(ctx, actor, SGC, "loop supply group")
	return err
}

// Authorise registers a virtual module with its operator's address and
// grants it the key types of SGC for a year.
func (s *Stack) Authorise(ctx context.Context, id sm.Identity, variant kmc.Variant, types kmc.KeyTypes, email string) error {
	_, err := s.KMC.RegisterSM(ctx, actor, kmc.SM{SMID: id.SMID, PublicKey: id.PublicKey, Model: id.Model,
		Firmware: id.Firmware[sm.APISTS6], Variant: variant, Virtual: true, Emails: []string{email}})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if _, err := s.KMC.Grant(ctx, actor, id.SMID.String(), kmc.KUA{SGC: SGC, Types: types, Until: time.Now().AddDate(1, 0, 0)}); err != nil {
		return fmt.Errorf("authorise: %w", err)
	}
	return nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}
