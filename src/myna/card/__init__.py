"""The 個人番号カード: its IC chip (JPKI key slots and PINs) and card issuance helpers."""
