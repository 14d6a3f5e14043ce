"""JPKI (公的個人認証サービス): the J-LIS certificate authority for the 個人番号カード."""
