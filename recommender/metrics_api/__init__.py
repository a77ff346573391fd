"""The Kubernetes external metrics API (``external.metrics.k8s.io/v1beta1``), served by the
in-cluster recommender behind the API aggregator: ``tidal_forecast`` for the HPA."""
