"""The hub (情報提供ネットワークシステム): 符号, Table 2 authorisation, routing, records."""
