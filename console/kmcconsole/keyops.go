package kmcconsole

import (
	"context"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

//go:embed keyops.html
var keyOpsTemplate string

// Trust is what the page of the KMC's trust anchors shows: its key pair
// and the STS Association keys, which change only under dual control.
type Trust struct {
	Key  *kmc.Key // the current key pair, nil if none
	STSA []STSAKey
}

// STSAKey is an STS Association key as the page shows it (its id, never
// more than the public key's hash).
type STSAKey struct {
	ID      string
	AddedAt time.Time
	AddedBy string
}

// keyOpsPage is the page of the KMC key and the STS Association keys,
// whose changes two officers make together: one proposes, another
// approves (console.Action.Dual).
func keyOpsPage(k *kmc.KMC) console.Page {
	return page("trust", "KMC key and STS Association keys", kmc.OpRead, keyOpsTemplate,
		func(ctx context.Context, _ console.Query) (*Trust, error) { return trustOf(ctx, k) },
		console.DualAction(k, "rotate", kmc.OpKeyRotate, describeRotate, rotate),
		console.DualAction(k, "stsaadd", kmc.OpSTSAKey, describeSTSAAdd, addSTSA),
		console.DualAction(k, "stsaremove", kmc.OpSTSAKey, describeSTSARemove, removeSTSA),
	)
}

// trustOf reads the current key and the STS Association keys.
func trustOf(ctx context.Context, k *kmc.KMC) (*Trust, error) {
	t := &Trust{}
	if key, err := k.CurrentKey(ctx); err == nil {
		t.Key = &key
	} else if !errors.Is(err, kmc.ErrNoCurrentKey) {
		return nil, err
	}
	keys, err := k.STSAKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range keys {
		t.STSA = append(t.STSA, STSAKey{ID: s.ID.String(), AddedAt: s.AddedAt, AddedBy: s.AddedBy})
	}
	return t, nil
}

// dualActor is the audit actor of an approved operation: the proposer and
// the approver, two different officers registered with k
// (kmc.KMC.CheckOfficers), as "officer:A+B".
func dualActor(k *kmc.KMC, c console.Call) (string, error) {
	if err := k.CheckOfficers([]string{c.Actor.Name, c.Approver.Name}); err != nil {
		return "", err
	}
	return "officer:" + c.Actor.Name + "+" + c.Approver.Name, nil
}

// maxLifetimeDays bounds a new key's lifetime as the API does.
const maxLifetimeDays = 36500

// describeRotate is the rotation a form asks for: the key it replaces
// (so that an approval of a stale proposal does nothing) and the new
// key's lifetime in days.
func describeRotate(ctx context.Context, k *kmc.KMC, c console.Call) (console.Operation, error) {
	text, err := value(c.Form, "lifetime_days")
	if err != nil {
		return console.Operation{}, err
	}
	days := int(kmc.DefaultKeyLifetime / (24 * time.Hour))
	if text = strings.TrimSpace(text); text != "" {
		if days, err = strconv.Atoi(text); err != nil || days < 1 || days > maxLifetimeDays {
			return console.Operation{}, console.BadInput("lifetime_days", fmt.Sprintf("a whole number of days, 1 to %d", maxLifetimeDays))
		}
	}
	replaces, err := currentFingerprint(ctx, k)
	if err != nil {
		return console.Operation{}, err
	}
	return console.Operation{Kind: "kmc.key.rotate",
		Params: map[string]string{"lifetime_days": strconv.Itoa(days), "replaces": replaces},
		Words: fmt.Sprintf("Rotate the KMC key: a new key pair valid %d days replaces the current key (fingerprint %s)",
			days, replaces)}, nil
}

// currentFingerprint names the current key by its fingerprint, "none" if
// the KMC has no current key.
func currentFingerprint(ctx context.Context, k *kmc.KMC) (string, error) {
	key, err := k.CurrentKey(ctx)
	if errors.Is(err, kmc.ErrNoCurrentKey) {
		return "none", nil
	}
	if err != nil {
		return "", err
	}
	return key.Fingerprint.String(), nil
}

// rotate makes the new key pair of an approved rotation, if the key it
// replaces is still the current one.
func rotate(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	actor, err := dualActor(k, c)
	if err != nil {
		return "", err
	}
	days, err := strconv.Atoi(c.Form.Get("lifetime_days"))
	if err != nil || days < 1 || days > maxLifetimeDays {
		return "", console.BadInput("lifetime_days", "not a lifetime")
	}
	cur, err := currentFingerprint(ctx, k)
	if err != nil {
		return "", err
	}
	if cur != c.Form.Get("replaces") {
		return "", console.BadInput("replaces", "the KMC key changed since the proposal; propose again")
	}
	key, err := k.RotateKey(ctx, actor, time.Duration(days)*24*time.Hour)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("New KMC key %d, fingerprint %s, valid until %s.", key.Seq, key.Fingerprint,
		key.Expiry().UTC().Format("2006-01-02 15:04:05 UTC")), nil
}

// describeSTSAAdd is the STS Association key a form adds: its public key
// (PEM or hex, P-384), kept canonically as the uncompressed point in hex.
func describeSTSAAdd(_ context.Context, _ *kmc.KMC, c console.Call) (console.Operation, error) {
	text, err := value(c.Form, "public_key")
	if err != nil {
		return console.Operation{}, err
	}
	pub, err := kmc.ParseSTSAPublicKey([]byte(strings.TrimSpace(text)))
	if err != nil {
		return console.Operation{}, console.BadInput("public_key", "an ECDSA P-384 public key, PEM or hex of the uncompressed point")
	}
	point, err := pub.Bytes()
	if err != nil {
		return console.Operation{}, console.BadInput("public_key", "not a P-384 point")
	}
	id, err := records.STSAKeyID(pub)
	if err != nil {
		return console.Operation{}, console.BadInput("public_key", "not a P-384 point")
	}
	return console.Operation{Kind: "kmc.stsa.add", Params: map[string]string{"public_key": strings.ToUpper(hex.EncodeToString(point))},
		Words: "Add the STS Association key " + id.String() + ", trusted to sign module registrations from then on"}, nil
}

// addSTSA adds the STS Association key of an approved proposal.
func addSTSA(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	actor, err := dualActor(k, c)
	if err != nil {
		return "", err
	}
	pub, err := kmc.ParseSTSAPublicKey([]byte(c.Form.Get("public_key")))
	if err != nil {
		return "", err
	}
	key, err := k.AddSTSAKey(ctx, actor, pub)
	if err != nil {
		return "", err
	}
	return "STS Association key " + key.ID.String() + " added.", nil
}

// describeSTSARemove is the STS Association key a form removes: one the
// KMC has.
func describeSTSARemove(ctx context.Context, k *kmc.KMC, c console.Call) (console.Operation, error) {
	id, err := value(c.Form, "key_id")
	if err != nil {
		return console.Operation{}, err
	}
	id = strings.ToUpper(strings.TrimSpace(id))
	keys, err := k.STSAKeys(ctx)
	if err != nil {
		return console.Operation{}, err
	}
	for _, s := range keys {
		if s.ID.String() == id {
			return console.Operation{Kind: "kmc.stsa.remove", Params: map[string]string{"key_id": id},
				Words: "Remove the STS Association key " + id + ", added by " + s.AddedBy + ": registrations it signs are refused from then on"}, nil
		}
	}
	return console.Operation{}, console.BadInput("key_id", "no such STS Association key")
}

// removeSTSA removes the STS Association key of an approved proposal.
func removeSTSA(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	actor, err := dualActor(k, c)
	if err != nil {
		return "", err
	}
	id := c.Form.Get("key_id")
	if err := k.RemoveSTSAKey(ctx, actor, id); err != nil {
		return "", err
	}
	return "STS Association key " + id + " removed.", nil
}
