package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Describe returns a human-readable summary of every certificate in the PEM
// file certFile: subject, issuer, SANs, validity period, days left and
// whether it is a CA.
func Describe(certFile string) (string, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return "", fmt.Errorf("read certificate: %w", err)
	}
	var out strings.Builder
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return "", fmt.Errorf("%s: parse certificate %d: %w", certFile, n+1, err)
		}
		if n > 0 {
			out.WriteString("\n")
		}
		n++
		describe(&out, c, time.Now())
	}
	if n == 0 {
		return "", errors.New(certFile + ": no PEM certificate found")
	}
	return out.String(), nil
}

func describe(w *strings.Builder, c *x509.Certificate, now time.Time) {
	var sans []string
	sans = append(sans, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	for _, u := range c.URIs {
		sans = append(sans, u.String())
	}
	if len(sans) == 0 {
		sans = []string{"(none)"}
	}
	left := c.NotAfter.Sub(now)
	status := fmt.Sprintf("%d days left", int(left.Hours()/24))
	switch {
	case left < 0:
		status = fmt.Sprintf("EXPIRED %d days ago", int(-left.Hours()/24))
	case now.Before(c.NotBefore):
		status = "NOT YET VALID"
	}
	var usages []string
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			usages = append(usages, "server auth")
		case x509.ExtKeyUsageClientAuth:
			usages = append(usages, "client auth")
		default:
			usages = append(usages, fmt.Sprintf("usage %d", u))
		}
	}
	sum := sha256.Sum256(c.Raw)
	fmt.Fprintf(w, "Subject:     %s\n", c.Subject)
	fmt.Fprintf(w, "Issuer:      %s\n", c.Issuer)
	fmt.Fprintf(w, "SANs:        %s\n", strings.Join(sans, ", "))
	fmt.Fprintf(w, "Not before:  %s\n", c.NotBefore.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "Not after:   %s (%s)\n", c.NotAfter.UTC().Format(time.RFC3339), status)
	fmt.Fprintf(w, "CA:          %t\n", c.IsCA)
	if len(usages) > 0 {
		fmt.Fprintf(w, "Usage:       %s\n", strings.Join(usages, ", "))
	}
	fmt.Fprintf(w, "Key:         %s\n", c.PublicKeyAlgorithm)
	fmt.Fprintf(w, "SHA-256:     %s\n", hex.EncodeToString(sum[:]))
}
