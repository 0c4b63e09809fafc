package keystore_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stskms/stskms/keystore"
)

// The key ceremony of a KMC: two officers make the store, both unlock it,
// the KMC key pair is made inside custody, and a vending key goes into the
// database sealed.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "keystore-example")
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "kmc-keys")

	officers := []keystore.Component{
		{Officer: "alice", Passphrase: []byte("correct horse battery staple")},
		{Officer: "bob", Passphrase: []byte("Tr0ub4dor&3 tuna mirror")},
	}
	if err := keystore.Init(dir, officers); err != nil {
		fmt.Println(err)
		return
	}
	_, err := keystore.Unlock(dir, officers[:1])
	fmt.Println(err)

	custody, err := keystore.Unlock(dir, officers)
	for i := range officers {
		officers[i].Zero()
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer custody.Lock()
	if custody.TestMode() {
		fmt.Println(keystore.TestModeWarning)
	}

	kmcPub, _ := custody.GenerateECDH(ctx, "kmc")
	sm, _ := ecdh.P384().GenerateKey(rand.Reader) // the SM's side
	z, _ := custody.ECDH(ctx, "kmc", sm.PublicKey())
	zSM, _ := sm.ECDH(kmcPub)
	fmt.Println("same shared secret:", string(z) == string(zSM))
	clear(z)

	blob, _ := custody.Seal(ctx, []byte("a vending key...."), []byte("vk|sgc=123456"))
	vk, _ := custody.Open(ctx, blob, []byte("vk|sgc=123456"))
	fmt.Printf("sealed %d bytes into %d\n", len(vk), len(blob))
	clear(vk)

	custody.Lock()
	_, err = custody.Seal(ctx, []byte("x"), nil)
	fmt.Println(err)
	// Output:
	// keystore: quorum not met: 1 of 2 components, missing officers "bob"
	// same shared secret: true
	// sealed 17 bytes into 46
	// keystore: locked
}
