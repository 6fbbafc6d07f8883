"""The collector side: metric definitions loaded into the oslo.metrics daemon."""
