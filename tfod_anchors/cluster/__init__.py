"""The classic clustering view of anchors (the TFOD notebook and YOLO9000 workflow).

:mod:`.kmeans` is 1 - IoU k-means over box shapes; :mod:`.baselines` the
scikit-learn methods (Euclidean k-means, ratio and scale clustered apart, the
notebook's ratios; scikit-learn is imported only when they run); :mod:`.centroids`
maps centroids to each generator's own fields (:func:`generator_fields`).
"""

from tfod_anchors.cluster.centroids import generator_fields
from tfod_anchors.cluster.kmeans import KMeansOptions, KMeansResult, iou_kmeans

__all__ = ["KMeansOptions", "KMeansResult", "generator_fields", "iou_kmeans"]
