"""Japanese identifiers: check digits, formatting and validation.

Modelled on python-stdnum: one small module per identifier, each with
``compact``, ``calc_check_digit``, ``validate``, ``is_valid``, ``format`` and
``mask``. Errors are :class:`~myna.errors.InvalidFormat`,
:class:`~myna.errors.InvalidLength` and :class:`~myna.errors.InvalidChecksum`
(all :class:`ValueError`), with Japanese and English messages.

Input may be typed the way people type it: full-width digits, spaces and
hyphens/dashes are accepted (see :func:`myna.numbers._util.clean`).

Modules:

* :mod:`~myna.numbers.individual` — 個人番号 (Individual Number, 12 digits)
* :mod:`~myna.numbers.corporate` — 法人番号 (Corporate Number, 13 digits, check digit first)
* :mod:`~myna.numbers.resident_code` — 住民票コード (Resident Record Code, 11 digits;
  check-digit rule is an unconfirmed stand-in)
* :mod:`~myna.numbers.municipality_code` — 全国地方公共団体コード (6 digits) plus a
  directory of municipalities and their postcodes
* :mod:`~myna.numbers.bulk` — NumPy-vectorised validation and check-digit
  generation for millions of numbers

>>> from myna.numbers import individual
>>> individual.validate('１２３４ ５６７８ ９０１８')
'123456789018'
"""
