"""Deep recommenders in Keras on the TensorFlow backend (issue 7).

Modules: ``common`` (seeds, threads, the ``KerasRecommender`` base with early stopping, history
and the ``.keras`` archive inside the ``.npz`` state), ``sequence`` (SASRec / GRU over each
customer's orders, algorithm "sequence"), ``ncf`` (neural CF with customer and product
features, algorithm "ncf"), ``ranker`` / ``ranker_features`` (the learned two-stage ranker).

Importing this package (or ``common``) does not import TensorFlow: the modules import it inside
the functions that build, train or load Keras models, so the registry and the web processes stay
light.
"""
