// Command metrics-api-load sends GET requests at a fixed rate over keep-alive TLS connections
// with a client certificate (the API aggregator's front-proxy certificate) and prints latency
// percentiles as JSON. Used by benchmarks/forecast.py against 127.0.0.1 only.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("base", "https://127.0.0.1:6443", "server URL")
	pathsFile := flag.String("paths", "", "file with one request path per line (cycled)")
	rate := flag.Float64("rate", 700, "requests per second")
	duration := flag.Duration("duration", 5*time.Second, "how long to send")
	conns := flag.Int("conns", 8, "keep-alive connections")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	caFile := flag.String("ca", "", "CA of the server certificate (PEM)")
	var headers multi
	flag.Var(&headers, "H", "header 'Name: value' (repeatable)")
	flag.Parse()
	if !strings.HasPrefix(*base, "https://127.") {
		fail("refusing to load anything but a loopback address: %s", *base)
	}

	paths := readLines(*pathsFile)
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(*caFile)
	check(err)
	pool.AppendCertsFromPEM(caPEM)
	config := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", InsecureSkipVerify: true}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		check(err)
		config.Certificates = []tls.Certificate{cert}
	}
	transport := &http.Transport{TLSClientConfig: config, MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost: *conns, ForceAttemptHTTP2: false}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	total := int(*rate * duration.Seconds())
	interval := time.Duration(float64(time.Second) / *rate)
	latencies := make([]float64, total)
	codes := map[int]int{}
	var mu sync.Mutex
	errors := 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("GET", *base+paths[i%len(paths)], nil)
			for _, h := range headers {
				name, value, _ := strings.Cut(h, ":")
				req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
			// Latency from the scheduled send time: a server that falls behind is charged
			// for the queueing it causes (no coordinated omission).
			resp, err := client.Do(req)
			elapsed := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errors++
				latencies[i] = -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[resp.StatusCode]++
			latencies[i] = float64(elapsed.Microseconds()) / 1000
		}(i)
	}
	wg.Wait()
	ok := make([]float64, 0, total)
	for _, l := range latencies {
		if l >= 0 {
			ok = append(ok, l)
		}
	}
	sort.Float64s(ok)
	out := map[string]any{"requests": total, "errors": errors, "codes": codes,
		"seconds": time.Since(start).Seconds(),
		"p50_ms": pct(ok, 0.50), "p90_ms": pct(ok, 0.90), "p99_ms": pct(ok, 0.99),
		"max_ms": pct(ok, 1.0)}
	json.NewEncoder(os.Stdout).Encode(out)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

func readLines(name string) []string {
	f, err := os.Open(name)
	check(err)
	defer f.Close()
	var lines []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if line := strings.TrimSpace(scanner.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		fail("%s: no paths", name)
	}
	return lines
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "metrics-api-load: "+format+"\n", args...)
	os.Exit(1)
}
