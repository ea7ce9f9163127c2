"""Keras's own test suites, run against kreg's drop-in components.

The test classes come from the installed Keras wheel (`keras/src/.../*_test.py`), so these tests follow the
installed Keras version. Each suite refers to the component through a module attribute (`layers.Dropout`,
`regularizers.L1`, `constraints.MaxNorm`); for each test that attribute is replaced by a view of the Keras
module in which the drop-in names are kreg's classes. Only error wording is relaxed: kreg raises with its own
template, ``Invalid value for argument `rate` of Dropout: expected ... Received: rate=...``, so an expected
Keras message that names an argument becomes "kreg's template for that argument".

Tests left out are listed in `EXCLUDED`, each with its reason.
"""

import re
import types
import unittest
from unittest import mock

from keras.src.constraints import constraints_test
from keras.src.layers.regularization import dropout_test
from keras.src.regularizers import regularizers_test

import kreg

# Tests of Keras behaviour that kreg deliberately does differently, or of Keras classes kreg does not replace.
EXCLUDED = {
    "test_get_method": "`keras.regularizers.get`/`keras.constraints.get` resolve Keras's names to Keras's classes "
    "(kreg's `get(name)` returns a kreg class from kreg's own names: 'elastic_net', not 'l1l2')",
    "test_orthogonal_regularizer": "OrthogonalRegularizer: no kreg counterpart",
    "test_orthogonal_regularizer_mode_validation": "OrthogonalRegularizer: no kreg counterpart",
    "test_orthogonal_regularizer_input_rank_validation": "OrthogonalRegularizer: no kreg counterpart",
    "test_orthogonal_regularizer_get_config": "OrthogonalRegularizer: no kreg counterpart",
    "test_non_neg": "NonNeg: no kreg counterpart",
    "test_non_neg_get_config": "NonNeg: no kreg counterpart",
    "test_non_neg_from_config": "NonNeg: no kreg counterpart",
    "test_non_neg_serialization_roundtrip": "NonNeg: no kreg counterpart",
    "test_non_neg_zeroes_negatives": "NonNeg: no kreg counterpart",
    "test_non_neg_preserves_positives": "NonNeg: no kreg counterpart",
    "test_non_neg_all_zeros_input": "NonNeg: no kreg counterpart",
    "test_min_max_norm": "MinMaxNorm: no kreg counterpart",
    "test_min_max_norm_get_config": "MinMaxNorm: no kreg counterpart",
    "test_default_constraint_call": "the Constraint base class is Keras's own",
    "test_constraint_get_config": "the Constraint base class is Keras's own",
    "test_constraint_from_config": "the Constraint base class is Keras's own",
}


def swapped(module, **classes):
    """A copy of `module` in which the names `classes` gives are kreg's."""
    view = types.ModuleType(module.__name__)
    view.__dict__.update({**vars(module), **classes})
    return view


def kreg_suite(suite, module, attribute, **classes):
    """`suite` with `module.attribute` swapped for kreg's `classes`, error wording relaxed, `EXCLUDED` skipped."""

    class Suite(suite):
        def setUp(self):
            super().setUp()
            view = swapped(getattr(module, attribute), **classes)
            self.enterContext(mock.patch.object(module, attribute, view))

        def assertRaisesRegex(self, exception, regex, *args, **kwargs):
            named = re.search(r"argument `(\w+)`", regex)
            if named:
                name = named.group(1)
                regex = rf"Invalid value for argument `{name}` of \w+: expected .*Received: {name}="
            return super().assertRaisesRegex(exception, regex, *args, **kwargs)

    for name in EXCLUDED:
        if hasattr(suite, name):
            setattr(Suite, name, unittest.skip(EXCLUDED[name])(lambda self: None))
    Suite.__name__ = Suite.__qualname__ = f"Kreg{suite.__name__}"
    return Suite


KregDropoutTest = kreg_suite(dropout_test.DropoutTest, dropout_test, "layers", Dropout=kreg.layers.Dropout)
KregRegularizersTest = kreg_suite(
    regularizers_test.RegularizersTest, regularizers_test, "regularizers",
    L1=kreg.regularizers.L1, L2=kreg.regularizers.L2, L1L2=kreg.regularizers.ElasticNet,
)
KregConstraintsTest = kreg_suite(
    constraints_test.ConstraintsTest, constraints_test, "constraints",
    MaxNorm=kreg.constraints.MaxNorm, UnitNorm=kreg.constraints.UnitNorm,
)


def test_the_suites_really_use_kregs_classes():
    """The swap reaches the suites: a suite test sees kreg's class under Keras's name."""
    seen = []

    class Probe(KregDropoutTest):
        def test_probe(self):
            seen.append(dropout_test.layers.Dropout)

    unittest.TextTestRunner(stream=open("/dev/null", "w")).run(Probe("test_probe"))
    assert seen == [kreg.layers.Dropout]
    assert dropout_test.layers.Dropout is not kreg.layers.Dropout  # and it is undone afterwards
