"""Tidal's admission webhook: pod mutation from VPA recommendations, HPA/VPA validation."""
