package sts6_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sm/api/sts6"
)

// BenchmarkCreditSTS6 issues credit tokens with SM?VC over plain loopback
// TCP (SQLite, durable with its audit record), from GOMAXPROCS and 4 ×
// GOMAXPROCS connections.
func BenchmarkCreditSTS6(b *testing.B) {
	m := testModule(b, apitest.Setup)
	addr := serve(b, sts6.NewServer(m, sts6.Config{Plain: sm.Operator.As("bench")}), nil)[0]
	var n atomic.Int64
	for _, p := range []int{1, 4} {
		b.Run(fmt.Sprint(p*runtime.GOMAXPROCS(0), "conns"), func(b *testing.B) {
			b.SetParallelism(p)
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				r := bufio.NewReader(c)
				for pb.Next() {
					i := int(n.Add(1))
					mk := apitest.Meter(i % 1000)
					q, _ := sts6.Frame{Cmd: "VC", Fields: []sts6.Field{sts6.Num(uint64(mk.SGC)), sts6.Num(uint64(mk.KRN)),
						sts6.Num(uint64(mk.KT)), {Type: 'N', Value: mk.PAN.String()}, sts6.Num(uint64(mk.TI)), sts6.Num(11),
						sts6.Num(2), sts6.Num(0), sts6.Num(10), sts6.Print(fmt.Sprint("b", i))}}.Encode()
					c.Write(q)
					line, err := r.ReadBytes('\r')
					if err != nil {
						b.Error(err)
						return
					}
					if f, err := sts6.Parse(line); err != nil || f.Status != sm.CodeOK {
						b.Errorf("reply %q", line)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
