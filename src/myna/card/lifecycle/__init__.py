"""The 個人番号カード's life: application, production, issuance, loss, reissue and end.

Its own node ("cards", :mod:`.storage`, migrations in ``migrations/``):

* :mod:`.domain` — the rules (validity, card numbers, photos, identity documents);
* :mod:`.service` — :class:`~.service.CardService`, J-LIS's card centre and the
  municipalities' card counters;
* :mod:`.directory` — how the service learns about a person;
* :mod:`.render` — the card's front and back as PNG images.

The card is voluntary: nothing in Myna requires one, and not applying has no
consequence.
"""
