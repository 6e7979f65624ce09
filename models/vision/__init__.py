"""Vision: frame decoding, face/object detectors, tracking, track store and the
exposure metric used to check redactions."""
