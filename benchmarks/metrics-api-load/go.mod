module github.com/tidal/tidal/benchmarks/metrics-api-load

go 1.22
