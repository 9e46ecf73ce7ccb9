"""The PyTorch estimators behind the neural families (:mod:`training.families.neural`).

They need PyTorch when their classes are defined, so they live here, apart from the family
modules that :func:`training.families.all_families` imports, and are imported only when a
family is built or a saved model is loaded.
"""
