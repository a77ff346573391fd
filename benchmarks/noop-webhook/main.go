// A mutating webhook that admits every object unchanged, as fast as Go's net/http serves
// TLS (HTTP/2 included): benchmarks/e2e_admission.py measures with it what the apiserver's
// own side of a webhook call costs, whatever the webhook does.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

type review struct {
	Request struct {
		UID string `json:"uid"`
	} `json:"request"`
}

func admit(w http.ResponseWriter, r *http.Request) {
	var in review
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"response":   map[string]any{"uid": in.Request.UID, "allowed": true},
	})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "listen address")
	cert := flag.String("cert", "", "PEM serving certificate")
	key := flag.String("key", "", "PEM private key")
	flag.Parse()
	http.HandleFunc("/", admit)
	log.Fatal(http.ListenAndServeTLS(*addr, *cert, *key, nil))
}
