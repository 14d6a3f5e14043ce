"""An institution's intermediate server (中間サーバー): copies keyed only by 符号."""
