"""The protection commission (個人情報保護委員会): the witness's owner and the auditor.

Its witness (:mod:`myna.transparency.witness`) cosigns the hub's provision log;
its audit (:mod:`.audit`) checks the log and the provision records from what the
hub shows it through :mod:`myna.contracts.audit`, never from the hub's tables.
"""
