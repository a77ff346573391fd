// A no-op admission webhook, built only for benchmarks/e2e_admission.py (standard library only).
module github.com/tidal/tidal/benchmarks/noop-webhook

go 1.22
