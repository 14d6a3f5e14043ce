"""A municipality's 統合宛名システム: one internal 宛名番号 per person.

The municipality's business systems (tax, 児童手当, 保育 …) link their records
by 宛名番号, never by the individual number; the intermediate server knows the
宛名番号 and the 符号 but nothing that identifies the person outside the town.
"""
