"""Django-free recommender numerics (STYLE §5): interaction matrices, algorithms, evaluation.

Modules, in the order data flows through them:

* ``data``: clean frame → interaction frame (``purchase_interactions``) → ``TrainingData``
  (index maps, event log, weighted CSR matrices) → ``temporal_split`` and ``holdout`` (truth).
* ``base``: the ``Recommender`` interface (fit / scores / recommend / similar_items / save) and
  exact, popularity-tie-broken ``top_k``.
* Algorithms: ``baselines`` (Popularity, RepeatPurchase), ``knn`` (ItemKNN, UserKNN; cosine),
  ``factorization`` (ALS, BPR via ``implicit``), ``ease`` (EASE), ``blend`` (repeat purchase +
  CF); ``registry`` maps names to classes and loads saved models.
* ``metrics`` (precision, recall, NDCG, MAP, hit rate @k, coverage) and ``evaluate`` (all items
  and new items on a hold-out).
* ``tuning``: validation search inside the training period, refit, test
  (``run_experiment`` → JSON-safe ``ExperimentResult``).
"""
