"""Django-free numerics for segmentation: features, RFM, clustering, rule segments."""
