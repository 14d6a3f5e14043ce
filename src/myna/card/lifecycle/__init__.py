"""The 個人番号カード's life: application, production, issuance, loss, reissue and end.

Its own node ("cards", :mod:`.storage`, migrations in ``migrations/``):

* :mod:`.domain` — the rules (validity, card numbers, photos, identity documents);
* :mod:`.service` — :class:`~.service.CardService`, J-LIS's card centre and the
  municipalities' card counters, a facade over the use cases (:mod:`.applying`,
  :mod:`.production`, :mod:`.issuance`, :mod:`.suspension`, :mod:`.renewal`,
  :mod:`.identity`, :mod:`.queries`) that share a :class:`~.base.Desk`;
* :mod:`.people` — how the service learns about a person (J-LIS's 本人確認情報 and
  the municipality's :class:`~myna.contracts.residents.ResidentDirectory`);
* :mod:`.towns` — the holder's town told of every change of a card's state (events
  from the card centre's outbox);
* :mod:`.audit` — what ``myna check`` compares with JPKI and the chips;
* :mod:`.render` — the card's front and back as PNG images.

The card is voluntary: nothing in Myna requires one, and not applying has no
consequence.
"""
