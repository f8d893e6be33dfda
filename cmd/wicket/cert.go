package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/config"
)

func newCertCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Write TLS certificates for a first start and for tests",
		Long: `For production, use certificates from your own CA or ACME client: point
tls.cert_file and tls.key_file at them, and send SIGHUP after each renewal.`,
	}
	cmd.AddCommand(newCertSelfSignedCmd(g), newCertClientCmd(g))
	return cmd
}

// Names of the files written, in --out-dir.
const (
	selfSignedCertFile = "tls-cert.pem"
	selfSignedKeyFile  = "tls-key.pem"
	clientCAFile       = "client-ca.pem"
	clientCAKeyFile    = "client-ca-key.pem"
)

func newCertSelfSignedCmd(g *globals) *cobra.Command {
	var (
		outDir string
		hosts  []string
		days   int
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "selfsigned [--out-dir DIR] [--host NAME ...]",
		Short: "Write a self-signed server certificate and key (ECDSA P-256)",
		Long: `Write ` + selfSignedCertFile + ` and ` + selfSignedKeyFile + ` (mode 0600) into --out-dir, and print
the [tls] lines that use them. The certificate is its own trust anchor:
clients trust it by naming the certificate file itself as their CA file
(LDAPTLS_CACERT for OpenLDAP's tools). --host names go into the certificate's
subjectAltName; the default is this host's name, localhost, 127.0.0.1 and ::1.

The ldapwhoami commands printed try StartTLS and ldaps:// once the server
runs with the certificate: on the ports of --config (listen, and
tls.listen_ldaps or port 1636 beside listen), by a name of the certificate
that reaches them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return errors.New("--days must be at least 1")
			}
			if len(hosts) == 0 {
				hosts = defaultHosts()
			}
			// Only the addresses are read, to print commands that reach
			// the server: a configuration that names listen_ldaps before
			// the certificate exists is what this command completes.
			path, err := g.configFile()
			if err != nil {
				return err
			}
			listen, err := config.Load(path)
			if err != nil {
				return err
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			tmpl, err := leafTemplate(hosts[0], days)
			if err != nil {
				return err
			}
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			for _, h := range hosts {
				if ip := net.ParseIP(h); ip != nil {
					tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
				} else {
					tmpl.DNSNames = append(tmpl.DNSNames, h)
				}
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			if err != nil {
				return err
			}
			certPath, keyPath, err := writePair(outDir, selfSignedCertFile, selfSignedKeyFile, der, key, force)
			if err != nil {
				return err
			}
			try := selfSignedTry(listen, hosts, certPath)
			out := certOutput{CertFile: certPath, KeyFile: keyPath, Hosts: hosts,
				Serial: tmpl.SerialNumber.Text(16), NotAfter: tmpl.NotAfter.UTC(),
				ListenLDAPS: try.ldaps, Commands: try.commands}
			if g.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Wrote a self-signed certificate for %s, valid until %s:\n  %s\n  %s (private key, mode 0600)\n\n",
				strings.Join(hosts, ", "), out.NotAfter.Format(time.DateOnly), certPath, keyPath)
			fmt.Fprintf(w, "Add to the configuration file:\n\n[tls]\ncert_file    = %q\nkey_file     = %q\nlisten_ldaps = %q\n\n",
				certPath, keyPath, try.ldaps)
			fmt.Fprintf(w, "Clients trust it by using the certificate as their CA file. Once wicket runs with it, try\n"+
				"StartTLS on %s and ldaps:// on %s (both answer \"anonymous\"):\n\n", listen.Listen, try.ldaps)
			for _, c := range try.commands {
				fmt.Fprintf(w, "%s\n", c)
			}
			if try.note != "" {
				fmt.Fprintf(w, "\n%s\n", try.note)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&outDir, "out-dir", ".", "directory to write the files into")
	f.StringSliceVar(&hosts, "host", nil, "DNS name or IP address the certificate is for (repeat for more)")
	f.IntVar(&days, "days", 365, "validity in days")
	f.BoolVar(&force, "force", false, "replace existing files (a running wicket picks them up on SIGHUP)")
	return cmd
}

func newCertClientCmd(g *globals) *cobra.Command {
	var (
		outDir string
		mail   string
		days   int
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "client NAME [--mail ADDR] [--out-dir DIR]",
		Short: "Write a client certificate for SASL EXTERNAL, signed by a local client CA",
		Long: `Write NAME.pem and NAME-key.pem into --out-dir: a client certificate with
subject CN=NAME (and an email subjectAltName with --mail), signed by the CA in
` + clientCAFile + ` / ` + clientCAKeyFile + `, which is created there on first use (valid
ten years) and reused after. Point tls.client_ca_file at ` + clientCAFile + `. A service account named
NAME (or with mail ADDR) can then bind with SASL EXTERNAL.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := strings.ToLower(args[0])
			if err := backend.ValidateName(name); err != nil {
				return err
			}
			if days < 1 {
				return errors.New("--days must be at least 1")
			}
			ca, caKey, caPath, err := loadOrCreateClientCA(outDir)
			if err != nil {
				return err
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			tmpl, err := leafTemplate(name, days)
			if err != nil {
				return err
			}
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			if mail != "" {
				tmpl.EmailAddresses = []string{mail}
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
			if err != nil {
				return err
			}
			certPath, keyPath, err := writePair(outDir, name+".pem", name+"-key.pem", der, key, force)
			if err != nil {
				return err
			}
			out := certOutput{CertFile: certPath, KeyFile: keyPath, CAFile: caPath,
				Serial: tmpl.SerialNumber.Text(16), NotAfter: tmpl.NotAfter.UTC()}
			if g.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Wrote a client certificate for %s, valid until %s:\n  %s\n  %s (private key, mode 0600)\n\n",
				name, out.NotAfter.Format(time.DateOnly), certPath, keyPath)
			fmt.Fprintf(w, "The server trusts it with, in [tls]:\nclient_ca_file = %q\n\n", caPath)
			fmt.Fprintf(w, "A client binds with it, e.g.\nLDAPTLS_CERT=%s LDAPTLS_KEY=%s ldapwhoami -Y EXTERNAL -H ldaps://HOST:636\n",
				certPath, keyPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&outDir, "out-dir", ".", "directory of the client CA and the files written")
	f.StringVar(&mail, "mail", "", "mail address to add as an email subjectAltName")
	f.IntVar(&days, "days", 365, "validity in days")
	f.BoolVar(&force, "force", false, "replace an existing certificate of NAME")
	return cmd
}

type certOutput struct {
	CertFile    string    `json:"cert_file"`
	KeyFile     string    `json:"key_file"`
	CAFile      string    `json:"ca_file,omitempty"`
	Hosts       []string  `json:"hosts,omitempty"`
	Serial      string    `json:"serial"`
	NotAfter    time.Time `json:"not_after"`
	ListenLDAPS string    `json:"listen_ldaps,omitempty"`
	// Commands check the certificate against the running server.
	Commands []string `json:"commands,omitempty"`
}

// certTry is what the self-signed certificate's output suggests: the
// ldaps:// address and the commands that try both listeners.
type certTry struct {
	ldaps    string
	commands []string
	note     string // when no name of the certificate reaches the listeners
}

// selfSignedTry makes commands that work as printed: the ports are those
// of cfg (listen, and tls.listen_ldaps or the ldaps port beside listen),
// the host a name of the certificate that reaches them. A client checks
// the server's name against the certificate, so the listener's address
// itself is used only when the certificate holds it.
func selfSignedTry(cfg *config.Config, hosts []string, certPath string) certTry {
	var try certTry
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		host, port = "127.0.0.1", "1389"
	}
	try.ldaps = cfg.TLS.ListenLDAPS
	if try.ldaps == "" {
		try.ldaps = net.JoinHostPort(host, "1636")
	}
	ldapsHost, ldapsPort, err := net.SplitHostPort(try.ldaps)
	if err != nil {
		ldapsHost, ldapsPort = host, "1636"
	}
	name, reached := certNameFor(host, hosts)
	ldapsName, ldapsReached := certNameFor(ldapsHost, hosts)
	try.commands = []string{
		fmt.Sprintf("LDAPTLS_CACERT=%s ldapwhoami -x -ZZ -H ldap://%s", shellWord(certPath), net.JoinHostPort(name, port)),
		fmt.Sprintf("LDAPTLS_CACERT=%s ldapwhoami -x -H ldaps://%s", shellWord(certPath), net.JoinHostPort(ldapsName, ldapsPort)),
	}
	if !reached || !ldapsReached {
		try.note = fmt.Sprintf("No name of the certificate is an address wicket listens on (%s, %s):\n"+
			"run them where %s reaches wicket, or add --host for that address.", cfg.Listen, try.ldaps, name)
	}
	return try
}

// certNameFor picks the certificate's name for a client to reach a
// listener on host: the address itself, or for a wildcard any name (the
// first); false when only a name that must resolve to the listener is
// left. "localhost" is not taken for a loopback address: OpenLDAP's
// tools check a server reached as localhost against the machine's own
// name instead.
func certNameFor(host string, names []string) (string, bool) {
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		return names[0], true
	}
	for _, n := range names {
		if strings.EqualFold(n, host) {
			return n, true
		}
		if nip := net.ParseIP(n); nip != nil && ip != nil && nip.Equal(ip) {
			return n, true
		}
	}
	for _, n := range names {
		if net.ParseIP(n) == nil {
			return n, false
		}
	}
	return names[0], false
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func defaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append([]string{h}, hosts...)
	}
	return hosts
}

// leafTemplate is what every certificate written here shares. The serial
// is random, as CA/Browser rules ask, so a reissued certificate is told
// apart from the one it replaces.
func leafTemplate(cn string, days int) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"wicket"}},
		// A little in the past, for clocks that lag behind this one.
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.AddDate(0, 0, days),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}, nil
}

// clientCADays outlives many client certificates, so renewing one never
// means replacing tls.client_ca_file everywhere.
const clientCADays = 10 * 365

// loadOrCreateClientCA reuses the client CA in dir, so every client
// certificate written there is trusted by one client_ca_file.
func loadOrCreateClientCA(dir string) (*x509.Certificate, crypto.Signer, string, error) {
	certPath, keyPath := filepath.Join(dir, clientCAFile), filepath.Join(dir, clientCAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		ca, key, err := parseCA(certPEM, keyPEM)
		if err != nil {
			return nil, nil, "", fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
		}
		abs, _ := filepath.Abs(certPath)
		return ca, key, abs, nil
	case !errors.Is(certErr, fs.ErrNotExist) || !errors.Is(keyErr, fs.ErrNotExist):
		return nil, nil, "", fmt.Errorf("client CA in %s: need both %s and %s, or neither (%v; %v)",
			dir, clientCAFile, clientCAKeyFile, certErr, keyErr)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, "", err
	}
	tmpl, err := leafTemplate("wicket client CA", clientCADays)
	if err != nil {
		return nil, nil, "", err
	}
	tmpl.IsCA = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, "", err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, "", err
	}
	abs, _, err := writePair(dir, clientCAFile, clientCAKeyFile, der, key, false)
	if err != nil {
		return nil, nil, "", err
	}
	return ca, key, abs, nil
}

func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !ca.IsCA {
		return nil, nil, errors.New("not a CA certificate and its signing key")
	}
	return ca, signer, nil
}

// writePair writes a certificate (0644) and its key (0600) and returns
// their absolute paths. Each file is written beside its final name and
// renamed into place, so a server reloading on SIGHUP meanwhile reads the
// old file or the new one, never half of one.
func writePair(dir, certName, keyName string, der []byte, key crypto.Signer, force bool) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	certPath, err := filepath.Abs(filepath.Join(dir, certName))
	if err != nil {
		return "", "", err
	}
	keyPath, err := filepath.Abs(filepath.Join(dir, keyName))
	if err != nil {
		return "", "", err
	}
	if !force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return "", "", fmt.Errorf("%s exists; pass --force to replace it", p)
			}
		}
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	// The key first: a reload between the two renames then sees a new key
	// with the old certificate, which fails and keeps the old pair.
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return "", "", err
	}
	if err := writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	// CreateTemp makes the file 0600; a certificate may be world-readable.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
