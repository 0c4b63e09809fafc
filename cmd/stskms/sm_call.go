package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/stskms/stskms/sm/api/sts6"
)

// runSMCall is "stskms sm call": send STS6-style frames to a module and
// print its replies, for scripts.
func runSMCall(e *env, args []string) error {
	fs := newFlags("sm call", "--addr ADDR [--tls-cert FILE --tls-key FILE --ca FILE] FRAME...",
		"Sends each FRAME (e.g. 'SM?DI' or 'SM?GAN123456~N1~N2~': header and fields; the\n"+
			"CRC and CR are added, or sent as given with --raw) to the module's STS6-style port\n"+
			"on one connection, and prints each reply without its CR. Exits 1 if a reply's\n"+
			"status is not 00. With --tls-cert the connection is TLS with that client\n"+
			"certificate, the server's checked against --ca.")
	addr := fs.String("addr", "", "address of the STS6-style port (sm serve --listen)")
	certFile := fs.String("tls-cert", "", "client certificate (PEM)")
	keyFile := fs.String("tls-key", "", "client certificate's private key (PEM)")
	caFile := fs.String("ca", "", "CA certificate(s) of the server (PEM)")
	raw := fs.Bool("raw", false, "send each FRAME as given (CRC included), only adding the CR")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for the whole exchange")
	frames, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if *addr == "" || len(frames) == 0 {
		return usageError("give the module's STS6 address with --addr, and at least one FRAME")
	}
	c, err := dialSTS6(*addr, *certFile, *keyFile, *caFile)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(*timeout))
	r := bufio.NewReaderSize(c, sts6.MaxFrame)
	refused := 0
	for _, f := range frames {
		q := f
		if !*raw {
			q += fmt.Sprintf("%04X", sts6.CRC16ARC([]byte(f)))
		}
		if _, err := c.Write([]byte(q + "\r")); err != nil {
			return err
		}
		line, err := r.ReadString('\r')
		if err != nil {
			return fmt.Errorf("reading the reply to %s: %w", f, err)
		}
		line = strings.TrimSuffix(line, "\r")
		fmt.Fprintln(e.stdout, line)
		if p, err := sts6.Parse([]byte(line + "\r")); err != nil || p.Status != "00" {
			refused++
		}
	}
	if refused > 0 {
		return fmt.Errorf("%d of %d replies were not status 00", refused, len(frames))
	}
	return nil
}

// dialSTS6 connects to the STS6 port: plain TCP, or TLS with a client
// certificate.
func dialSTS6(addr, certFile, keyFile, caFile string) (net.Conn, error) {
	if certFile == "" {
		return net.DialTimeout("tcp", addr, 10*time.Second)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", caFile)
		}
	}
	return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
}
