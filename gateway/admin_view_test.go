package gateway

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stskms/stskms/store"
)

// TestPurgePreview: Counts counts every state; the preview lists exactly
// the mails PurgeBefore then deletes; a mail finished after the preview's
// instant is kept; an instant not in the past is refused.
func TestPurgePreview(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		a := newAdminQueue(t, db)
		ctx := context.Background()
		q := a.gw.Queue()
		var ae *AdminError
		if _, err := q.PurgeBefore(ctx, a.clock.Now(), true); !errors.As(err, &ae) {
			t.Errorf("PurgeBefore(now): %v, want an *AdminError", err)
		}
		mails, replies, err := q.Counts(ctx)
		if err != nil || !reflect.DeepEqual(mails, []StateCount{{StateReceived, 1}, {StateProcessing, 0}, {StateReplied, 2},
			{StateIgnored, 0}, {StateFailed, 1}}) || len(replies) != len(outStates) || replies[2] != (StateCount{OutSent, 1}) {
			t.Errorf("counts %v %v, %v", mails, replies, err)
		}
		a.clock.Add(2 * time.Hour)
		before := a.clock.Now().Add(-time.Hour)
		preview, err := q.PurgePreview(ctx, before)
		if err != nil || !reflect.DeepEqual(ids(preview), a.ids[:3]) {
			t.Fatalf("preview %v, %v; want %v", ids(preview), err, a.ids[:3])
		}
		// 4 finishes after the preview (ignored now): not purged.
		if _, err := db.Exec(ctx, `UPDATE gateway_mail SET state = $1, done_ns = $2 WHERE id = $3`,
			StateIgnored, a.clock.Now().UnixNano(), a.ids[3]); err != nil {
			t.Fatal(err)
		}
		a.clock.Add(24 * time.Hour)
		res, err := q.PurgeBefore(ctx, before, false)
		if err != nil || res.Mails != 3 || res.Before != before.UTC() {
			t.Fatalf("purge: %+v, %v", res, err)
		}
		if got := ids(a.queue()); !reflect.DeepEqual(got, a.ids[3:]) {
			t.Errorf("left %v, want %v", got, a.ids[3:])
		}
	})
}
