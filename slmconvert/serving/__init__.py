"""Serving: the capture proxy and hybrid router of `slmconvert serve`."""
