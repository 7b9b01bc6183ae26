"""PII and secret detection and scrubbing (curate stage, `slmconvert curate eval-pii`)."""
