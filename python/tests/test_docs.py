"""The examples in the package's docstrings run as written."""

import doctest

import pickleproof
import pickleproof.pytorch


def load_tests(loader, tests, ignore):
    tests.addTests(doctest.DocTestSuite(pickleproof))
    tests.addTests(doctest.DocTestSuite(pickleproof.pytorch))
    return tests
