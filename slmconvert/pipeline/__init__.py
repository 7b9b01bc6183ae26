"""Pipeline runner: configs, stage registry, manifests, caching and resume."""
