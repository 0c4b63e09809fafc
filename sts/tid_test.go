package sts_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stskms/stskms/sts"
)

func utc(year int, month time.Month, day, hour, min int) time.Time {
	return time.Date(year, month, day, hour, min, 0, 0, time.UTC)
}

// plus2 is a fixed +02:00 zone (e.g. South Africa Standard Time).
var plus2 = time.FixedZone("UTC+2", 2*60*60)

func TestRolloverInstant(t *testing.T) {
	// 1993-01-01 + 2^24 minutes, computed with python3 datetime:
	// datetime(1993,1,1) + timedelta(minutes=2**24) = 2024-11-24 20:16:00.
	// (Notes §3 says "2024-11-24 10:16 UTC"; that is 600 minutes early.)
	got := sts.BaseDate1993.Start().Add((1 << 24) * time.Minute)
	if want := utc(2024, 11, 24, 20, 16); !got.Equal(want) {
		t.Errorf("1993-01-01 + 2^24 min = %s, want %s", got, want)
	}
}

func TestBaseDateTID(t *testing.T) {
	tests := []struct {
		name    string
		base    sts.BaseDate
		at      time.Time
		want    uint32
		wantErr error
	}{
		// Notes §3 [V], sts-token-check.py: 4077 days·1440 + 835.
		{"notes §3 example", sts.BaseDate1993, utc(2004, 3, 1, 13, 55), 5871715, nil},
		{"same instant at +02:00", sts.BaseDate1993, time.Date(2004, 3, 1, 15, 55, 0, 0, plus2), 5871715, nil},
		{"seconds are truncated", sts.BaseDate1993, time.Date(2004, 3, 1, 13, 55, 59, 999999999, time.UTC), 5871715, nil},
		{"base date itself", sts.BaseDate1993, utc(1993, 1, 1, 0, 0), 0, nil},
		{"one minute after base date", sts.BaseDate1993, utc(1993, 1, 1, 0, 1), 1, nil},
		// NJ adds a minute at 00:01 (notes §3); we must not.
		{"00:01 has no NJ quirk", sts.BaseDate1993, utc(2004, 3, 2, 0, 1), 4078*1440 + 1, nil},
		// By hand: 2^24 − 600 minutes (the instant notes §3 names).
		{"notes §3 10:16 is in range", sts.BaseDate1993, utc(2024, 11, 24, 10, 16), 1<<24 - 600, nil},
		// python3: datetime(1993,1,1)+timedelta(minutes=2**24-1) = 2024-11-24 20:15.
		{"last minute before rollover", sts.BaseDate1993, utc(2024, 11, 24, 20, 15), sts.MaxTID, nil},
		{"last instant before rollover", sts.BaseDate1993, time.Date(2024, 11, 24, 20, 15, 59, 999999999, time.UTC), sts.MaxTID, nil},
		{"rollover", sts.BaseDate1993, utc(2024, 11, 24, 20, 16), 0, sts.ErrTIDRollover},
		{"rollover at +02:00", sts.BaseDate1993, time.Date(2024, 11, 24, 22, 16, 0, 0, plus2), 0, sts.ErrTIDRollover},
		{"last minute before rollover at +02:00", sts.BaseDate1993, time.Date(2024, 11, 24, 22, 15, 0, 0, plus2), sts.MaxTID, nil},
		{"far future", sts.BaseDate1993, utc(2400, 1, 1, 0, 0), 0, sts.ErrTIDRollover},
		{"one second before base date", sts.BaseDate1993, time.Date(1992, 12, 31, 23, 59, 59, 0, time.UTC), 0, sts.ErrBeforeBaseDate},
		{"one nanosecond before base date", sts.BaseDate1993, time.Date(1992, 12, 31, 23, 59, 59, 999999999, time.UTC), 0, sts.ErrBeforeBaseDate},
		{"base date at +02:00 is before", sts.BaseDate1993, time.Date(1993, 1, 1, 1, 59, 0, 0, plus2), 0, sts.ErrBeforeBaseDate},
		{"far past", sts.BaseDate1993, utc(1700, 1, 1, 0, 0), 0, sts.ErrBeforeBaseDate},
		// python3: (datetime(2024,11,24,20,16) - datetime(2014,1,1)) // 60s.
		{"base 2014 at the 1993 rollover", sts.BaseDate2014, utc(2024, 11, 24, 20, 16), 5732416, nil},
		// python3: (datetime(2035,6,15,12,34) - datetime(2035,1,1)) // 60s.
		{"base 2035", sts.BaseDate2035, utc(2035, 6, 15, 12, 34), 238354, nil},
		{"2014 before its base date", sts.BaseDate2014, utc(2013, 12, 31, 23, 59), 0, sts.ErrBeforeBaseDate},
		// python3: datetime(2014,1,1)+timedelta(minutes=2**24) = 2045-11-24 20:16.
		{"2014 rollover", sts.BaseDate2014, utc(2045, 11, 24, 20, 16), 0, sts.ErrTIDRollover},
		{"invalid base date", sts.BaseDate(2000), utc(2004, 3, 1, 13, 55), 0, sts.ErrRange},
		{"zero base date", sts.BaseDate(0), utc(2004, 3, 1, 13, 55), 0, sts.ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.base.TID(tt.at)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("TID = %d, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("TID = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestBaseDateTimeInverse(t *testing.T) {
	for _, base := range []sts.BaseDate{sts.BaseDate1993, sts.BaseDate2014, sts.BaseDate2035} {
		for _, tid := range []uint32{0, 1, 5871715, sts.MaxTID - 1, sts.MaxTID} {
			at := base.Time(tid)
			if at.Location() != time.UTC {
				t.Errorf("%d.Time(%d) is in %s, want UTC", base, tid, at.Location())
			}
			if got, err := base.TID(at); err != nil || got != tid {
				t.Errorf("%d: TID(Time(%d)) = %d, %v", base, tid, got, err)
			}
		}
	}
	if got, want := sts.BaseDate1993.Time(5871715), utc(2004, 3, 1, 13, 55); !got.Equal(want) {
		t.Errorf("Time(5871715) = %s, want %s (notes §3)", got, want)
	}
	if got, want := sts.BaseDate2014.Start(), utc(2014, 1, 1, 0, 0); !got.Equal(want) {
		t.Errorf("BaseDate2014.Start() = %s, want %s", got, want)
	}
}

func TestParseBaseDate(t *testing.T) {
	tests := []struct {
		year int
		want sts.BaseDate
		code string
	}{
		// Notes §3: base dates 1993, 2014, 2035, short codes 93, 14, 35.
		{93, sts.BaseDate1993, "93"},
		{1993, sts.BaseDate1993, "93"},
		{14, sts.BaseDate2014, "14"},
		{2014, sts.BaseDate2014, "14"},
		{35, sts.BaseDate2035, "35"},
		{2035, sts.BaseDate2035, "35"},
	}
	for _, tt := range tests {
		got, err := sts.ParseBaseDate(tt.year)
		if err != nil || got != tt.want {
			t.Errorf("ParseBaseDate(%d) = %d, %v; want %d", tt.year, got, err, tt.want)
			continue
		}
		if !got.Valid() {
			t.Errorf("%d.Valid() = false", got)
		}
		if c := got.ShortCode(); c != tt.code {
			t.Errorf("%d.ShortCode() = %q, want %q", got, c, tt.code)
		}
	}
	for _, year := range []int{0, 1, 92, 94, 1992, 1994, 2000, 2013, 2015, 2034, 2036, 2056, 3993, -93, -1993} {
		if got, err := sts.ParseBaseDate(year); !errors.Is(err, sts.ErrRange) {
			t.Errorf("ParseBaseDate(%d) = %d, %v; want ErrRange", year, got, err)
		}
	}
	for _, b := range []sts.BaseDate{0, 93, 14, 35, 1992, 2000, 2056} {
		if b.Valid() {
			t.Errorf("BaseDate(%d).Valid() = true", b)
		}
	}
}

func TestKeyExpired(t *testing.T) {
	// KEN against the top 8 bits of the 24-bit TID (notes §3): equal is
	// accepted, greater is expired (by hand).
	tests := []struct {
		tid     uint32
		ken     uint8
		expired bool
	}{
		{0, 0, false},
		{0x00FFFF, 0, false},
		{0x010000, 0, true},
		{0x05FFFF, 5, false},
		{0x060000, 5, true},
		{0x050000, 6, false},
		{sts.MaxTID, 255, false},
		{sts.MaxTID, 254, true},
		{5871715, 0x59, false}, // 0x599863 → top byte 0x59
		{5871715, 0x58, true},
	}
	for _, tt := range tests {
		if got := sts.KeyExpired(tt.tid, tt.ken); got != tt.expired {
			t.Errorf("KeyExpired(%#06x, %d) = %v, want %v", tt.tid, tt.ken, got, tt.expired)
		}
	}
}
