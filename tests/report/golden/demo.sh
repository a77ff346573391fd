#!/bin/sh
# Tidal resource patches (strategic merge), generated 2026-11-01T00:00:00Z.
# Review, then apply: sh this-file (or pipe it to sh). Each command is idempotent.
set -e

# batch/CronJob/nightly-etl etl: cpu 4 -> 2.28, memory 8Gi -> 2.4Gi
kubectl -n batch patch cronjob nightly-etl --type strategic -p '{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"etl","resources":{"requests":{"cpu":"2281m","memory":"2422Mi"},"limits":{"cpu":"2281m","memory":"2422Mi"}}}]}}}}}}'

# ml/Deployment/embedder embedder: cpu 250m -> 442m, gpu 1 gpu -> 1 mig-2g.20gb
kubectl -n ml patch deployment embedder --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"embedder","resources":{"requests":{"cpu":"442m","memory":"2177Mi","nvidia.com/mig-2g.20gb":"1","nvidia.com/gpu":null},"limits":{"memory":"3266Mi","nvidia.com/mig-2g.20gb":"1","nvidia.com/gpu":null}}}]}}}}'

# ml/Deployment/llm-inference server: cpu 4 -> 1.94, memory 16Gi -> 9.9Gi, gpu 4 gpu -> 2 gpu
kubectl -n ml patch deployment llm-inference --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"server","resources":{"requests":{"cpu":"1938m","memory":"10135Mi","nvidia.com/gpu":"2"},"limits":{"memory":"10135Mi","nvidia.com/gpu":"2"}}}]}}}}'

# shop/Deployment/cart cart: cpu 100m -> 143m, memory 512Mi -> 1.4Gi
kubectl -n shop patch deployment cart --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"cart","resources":{"requests":{"cpu":"143m","memory":"1484Mi"},"limits":{"memory":"2968Mi"}}}]}}}}'

# shop/Deployment/web web: memory 1Gi -> 641Mi, cpu kept (an HPA scales on it)
kubectl -n shop patch deployment web --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"requests":{"memory":"641Mi"},"limits":{"memory":"641Mi"}}}]}}}}'
