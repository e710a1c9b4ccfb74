"""Deep recommenders in Keras on the TensorFlow backend (issue 7).

Modules: ``common`` (seeds, threads, the ``KerasRecommender`` base with early stopping, history
and the ``.keras`` archive inside the ``.npz`` state), ``sequence`` (SASRec / GRU over each
customer's orders, algorithm "sequence"), ``ncf`` (neural CF with customer and product
features, algorithm "ncf"), ``ranker`` / ``ranker_features`` (the learned two-stage ranker).

Importing this package (or ``common``) does not import TensorFlow: the modules import it inside
the functions that build, train or load Keras models, so the registry and the web processes stay
light.
"""

import os

# TensorFlow's C++ start-up and graph messages (oneDNN notices, "NodeDef mentions attribute...")
# are not ours to act on and drown the worker's log; errors still show. Set before any module of
# this package imports TensorFlow; an explicit setting in the environment wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
