"""A found name grows over the title-case word next to it in mid-sentence; postal codes
with letters; an address block that ends a sentence.

Every sentence here is written for these tests."""

from __future__ import annotations

import pytest

from slmconvert.pii.config import PiiConfig
from slmconvert.pii.recognizers import RULES, name_neighbour, trim_person
from slmconvert.pii.scrubber import Scrubber
from slmconvert.pii.spans import Span, block_heads, people


def grown(text: str, name: str, others: list[Span] | None = None) -> list[str]:
    start = text.index(name)
    spans = people(text, [Span(start, start + len(name), "PERSON", 0.85)], others or [])
    return [text[s.start:s.end] for s in spans if s.entity == "PERSON"]


@pytest.mark.parametrize(("text", "found", "name"), [
    ("We played the Brannigan Okoro record twice.", "Okoro", "Brannigan Okoro"),
    ("She was always a huge Tilda Vance fan, like her mother.", "Tilda", "Tilda Vance"),
    ("The board thanked Quillon's Maretta Sorvik for the report.", "Sorvik", "Maretta Sorvik"),
    ("The song is by Celandine IJsbrand, sadly.", "Celandine", "Celandine IJsbrand"),
])
def test_a_title_case_word_next_to_a_name_in_mid_sentence_is_part_of_it(
        text: str, found: str, name: str) -> None:
    assert grown(text, found) == [name]


@pytest.mark.parametrize(("text", "found"), [
    ("Yesterday I met him. Brannigan Okoro left early.", "Okoro"),   # starts a sentence
    ("Please ask Dr Okoro about the results.", "Okoro"),              # a title
    ("We spoke to Okoro Monday about it.", "Okoro"),                  # a day
    ("The invoice went to Okoro Holdings last week.", "Okoro"),       # a company word
    ("Tilda Wins Regional Chess Final Again", "Tilda"),               # a headline
    ("| Tilda Vance  |", "Tilda Vance  |"),                           # a table border
    ("The cheque for Okoro and the others came.", "Okoro"),           # lower case
])
def test_other_words_next_to_a_name_stay(text: str, found: str) -> None:
    assert grown(text, found) == [found]


def test_a_place_or_organisation_next_to_a_name_stays_unless_ner_guessed_it() -> None:
    text = "They met in Lisbon Okoro said."
    place = Span(text.index("Lisbon"), text.index("Lisbon") + 6, "LOCATION", 0.85)
    assert grown(text, "Okoro", [place]) == ["Okoro"]
    guess = Span(place.start, place.end, "LOCATION", 0.85, guess=True)
    assert grown(text, "Okoro", [guess]) == ["Lisbon Okoro"]


@pytest.mark.parametrize(("word", "ok"), [
    ("Vance", True), ("Sorvik's", True), ("IJsbrand", True), ("The", False),
    ("President", False), ("Friday", False), ("Ltd", False), ("GmbH", False),
    ("VANCE", False), ("R2", False), ("A", False),
])
def test_which_words_can_be_more_of_a_name(word: str, ok: bool) -> None:
    assert name_neighbour(word) is ok


@pytest.mark.parametrize(("rule", "text", "code"), [
    ("postal_labelled", "Postcode: EC2V 7HH, thanks", "EC2V 7HH"),
    ("postal_labelled", "zip code V6B 1A1", "V6B 1A1"),
    ("postal_in_place", "our branch in Halifax B3H 4R2 in the old harbour", "B3H 4R2"),
    ("postal_in_place", "a depot in Brno 2 612 00 on the ring road", "612 00"),
    ("postal_after_place", "Unit 4, Mill Row\nLeeds\nLS1 4DY\n", "LS1 4DY"),
    # the same in a text with no capital letter
    ("postal_alnum_in_place_lower", "we opened a stall in kelby ls6 2qt in the spring",
     "ls6 2qt"),
    ("postal_alnum_in_place_lower", "a warehouse in brannoc k2p 1l4 with two docks.",
     "k2p 1l4"),
    # after a town English knows too
    ("postal_alnum_in_place_lower", "our new depot in halifax b3h 4r2, open daily", "b3h 4r2"),
])
def test_postal_codes_with_letters_and_after_a_district_number(rule: str, text: str,
                                                               code: str) -> None:
    assert [text[a:b] for a, b, _ in RULES[rule].find(text)] == [code]


@pytest.mark.parametrize("text", [
    "in Python 3 100 times faster",
    "released in Lisbon 2024 in the spring",
    "the model D1A 1A1 is out",   # no postal code starts with D in Canada
    "the team met in leeds w3 4th.",  # a British inward code has no 'th'
])
def test_numbers_and_codes_that_are_no_postal_code(text: str) -> None:
    assert not [f for name in ("postal_in_place", "postal_after_place", "postal_labelled",
                               "postal_alnum_in_place_lower")
                for f in RULES[name].find(text)]


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig(second_opinion_model=None))


@pytest.mark.parametrize(("text", "tail"), [
    ("Could you post it to 41 Quarry Lane\nHollowmere\n, KT\n 55012?", "55012"),
    ("I used to live at 8 Fennick Row\nBrackwater, nan 40417. Now I rent.", "40417"),
])
def test_an_address_block_that_ends_a_sentence_is_scrubbed_to_its_end(
        scrubber: Scrubber, text: str, tail: str) -> None:
    out, spans = scrubber.scrub_text(text)
    assert tail not in out
    assert any(s.entity == "STREET_ADDRESS" and text[s.start:s.end].endswith(tail)
               for s in spans)
    assert out.rstrip().endswith(("?", "Now I rent."))


def test_a_sentence_after_an_address_is_not_taken_into_it(scrubber: Scrubber) -> None:
    text = "Send it to 8 Fennick Row, Brackwater, and call me when it is done. Thanks!"
    out, _ = scrubber.scrub_text(text)
    assert "and call me when it is done" in out


@pytest.mark.parametrize(("text", "parts"), [
    # a town and state typed in lower case before the postal code, in mixed-case text
    ("Please courier it to 17 Tannery Road, hollowmere kt 55012 by Friday.",
     ["hollowmere", "kt", "55012"]),
    # a region written in lower case, and a postal code with a dash
    ("The parcel goes to 9 Brisk Lane\nDravno, pomorskie 81-220 tomorrow morning.",
     ["pomorskie", "81", "220"]),
    # ... on a line of its own, with the country line after it
    ("Return it to 560 Vretgatan 4\nSkelby\n, västerland\n Sweden 41230 when you can.",
     ["västerland", "Sweden", "41230"]),
    # a district and its town joined by a spaced dash
    ("Bill it to 3801 Calle Mirasol 77\n Suite 12\n Arroyo Seco - Tres Pinos\n Uruguay?",
     ["Tres", "Pinos", "Uruguay"]),
    ("Ship to 5 Larkfield Way, oakdale, ca 95361 next week.", ["oakdale", "ca", "95361"]),
    # a street word that follows the street's name ("Vrtna ulica", "Borska cesta")
    ("Our offices are at Vrtna ulica 8 Tamsin Orchard\n Apt. 4\n Celje", ["Vrtna"]),
    ("Drop the keys at Borska cesta 3, please.", ["Borska", "3"]),
    # lower-case prose: a street English does not know after 'on', an address after a comma
    ("the depot is on tarvoli 38", ["tarvoli", "38"]),
    ("we'll meet friday at orvex trading ltd., 212 kestrani 9, bergen", ["212", "kestrani"]),
    # a town's district number before a comma
    ("Send the forms to 3 Vaskipolku 12, Tervola 5, Finland 95300 please.",
     ["Tervola", "5,", "Finland", "95300"]),
    # a street word in front of what NER took for a person, the house number after it
    ("The crate was left at Pl. Wierzbowy 45 last night.", ["Pl.", "Wierzbowy", "45"]),
    # Greek and Russian street words in their own script, also in lower case
    ("The kiosk stands on πλατεία Δροσερή 14 near the port.", ["πλατεία", "Δροσερή", "14"]),
    ("Deliveries go to ул. Садовая 12 on Mondays.", ["ул.", "Садовая", "12"]),
    # a Spanish "y" inside a street's name written in English word order
    ("The band played on Ocho y Cuarto 380 street for years.", ["Ocho", " y ", "Cuarto"]),
    # particles before a street's name in lower-case prose, a quoted word in a street's name
    ("the shows were on van der kelm street back then.", ["kelm"]),
    ('Send it to ul. Gen. Tadeusza Kowala "Grot" 4, Wronki, Poland.', ["Grot", "4,", "Wronki"]),
    # a town or region with a lower-case word of its own language
    ("Our depot is at 22 Lipová 14 Apt. 3 Nové Hrady Jihočeský kraj. Open daily.", ["kraj"]),
    ("Mail it to Trdinova cesta 9 Novo mesto Slovenia before May.", ["mesto", "Slovenia"]),
    # a particle between the two words of a street's name after "on"
    ("The pharmacy is on Dieciocho de Julio 2068", ["Dieciocho", "Julio", "2068"]),
    # post boxes written as one word or in another language
    ("Reply to Postbox 4471 by the end of June.", ["4471"]),
    ("invoices go to postfach 3310", ["3310"]),
    # a two-letter state that is also an English word before a ZIP code, in lower case
    ("the parts went to 41 tarvola 6 suite 12\nkelby, or 97219", ["97219"]),
    ("my new place is 8 brisk lane, hollowmere, in 46201", ["46201"]),
    # the Hungarian street word after the name
    ("Post it to 12 Kerekes út, Tarvola.", ["Kerekes", "Tarvola"]),
    # a street word abbreviated with a full stop, in lower-case text and with capitals
    ("rui left his address: 31 avda. de tarvolina 12", ["tarvolina", "12"]),
    ("Our stall is at 7 Av. Tarvolina 220, Cascavel.", ["Tarvolina", "220"]),
    # the word before a particle that leads the part a rule found: the start of the name
    ("I'll wait at Fonte de Oliveira 14 Kestrel Trail\n Apt. 5\n Lisbon after lunch.",
     ["Fonte", "Oliveira"]),
    # the Estonian street word "tee" after a capitalised name
    ("Pick it up at Orvex Ltd, 10115 Kaasiku tee 4, Saue", ["10115", "Kaasiku", "Saue"]),
    # a two-letter state and a ZIP code at the end of a lower-case block, no comma
    ("ship to: 12 kestrel way 4\nwestbury by 80331", ["by 80331"]),
    # a house number, a street word of another language and a particle: the street's
    # name follows in any case, with no word about an address around it
    ("The song is named after 8 rue du vieux Moulin in Dole.", ["vieux", "Moulin"]),
    ("We drove past 14 rue de la tannerie, then home.", ["tannerie"]),
    # a district's one-digit number ends a line of the block, the country line follows
    ("Courier: 61 Rue Salem Kaddour\n Suite 5\n Ksar Hellal 3\n Tunisia for order 44",
     ["Ksar", "Tunisia"]),
    # French "à" and "sous" inside a street's name with no street word, on a block's line
    # above the town (after its postal code or not)
    ("Send to:\n\n817 Tienne à Vaux 12\nOSTBY", ["Tienne", "OSTBY"]),
    ("Send to:\n\n6 Mont sous Vaux 4\nOSTBY", ["Mont", "OSTBY"]),
    ("Ship to\n5 Mont sous Vaux 12\n5030 Gembloux", ["Mont", "Vaux"]),
    # Italian "via" (an English word too) before a particle with its article
    ("the parcel waits at via degli orti 14", ["orti", "14"]),
    ("send the spare keys to via delle mimose 3, thanks", ["mimose"]),
    # a street word and five words of a name before the house number
    ("ship to 77 rua doutor josé alves de lima 908\nbraga", ["doutor", "alves", "lima"]),
    # the name heading a lower-case address block, a company line between
    ("tavo lindqvist\nbrannoc logistics ab\n12 tarvolagen 4\nsuite 3\nostby",
     ["tavo", "lindqvist", "tarvolagen"]),
    ("> orvel k brannoc\n> 40 kestrelgatan 9\n> ostby", ["orvel", "brannoc"]),
    # a named company's address, and a German street led by "An der" after a cue
    ("Their office: address of Brannoc NV is 841 San Tavo 54, la Pobla Orvel, Spain",
     ["Tavo", "Pobla", "Orvel", "Spain"]),
    ("Our depot sits on the far side of An der Kestrelbrucke 10.", ["An der", "Kestrel"]),
    # the word for a region's kind after its name, whatever comes next
    ("Ship the drums to 9 Lipová 4 Apt. 2 Horní Orvel Zlínský kraj for the band.", ["kraj"]),
    # Basque and Czech street words after the name
    ("We met at Orbelaun kalea 7 after lunch", ["Orbelaun", "kalea"]),
    ("Drop the key at Tarvolovo náměstí 14 please", ["Tarvolovo", "14"]),
    # a postal code with letters in lower case after its label
    ("ok my postcode is k2p 1l4 if that helps", ["k2p", "1l4"]),
    # a nickname in quotes inside a lower-case street's name
    ('deliver it to ul. gen. tarvola orvelskiego "kestrel" 12, torun', ["kestrel", "12"]),
    # Portuguese "r" (rua) after a preposition, a name no dictionary knows
    ("the cab drops you at 185 r orvalho tarvela 46 st.", ["orvalho", "tarvela", "46"]),
    # the head of a lower-case address block whose line starts with a unit's number
    ("> orvel k brannoc\n> 5521 40 kestrel street\n> ostby", ["orvel", "brannoc"]),
])
def test_every_part_of_an_address_is_scrubbed(
        scrubber: Scrubber, text: str, parts: list[str]) -> None:
    out, _ = scrubber.scrub_text(text)
    assert [p for p in parts if p in out] == [], out


def test_an_address_that_ends_a_sentence_stops_at_its_full_stop(scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("I moved to 40 Harbour Road, Westport. New job starts Monday.")
    assert "Westport" not in out and out.endswith(">. New job starts Monday."), out
    # an abbreviation's full stop does not end the address
    out, _ = scrubber.scrub_text("Ship it to 40 Harbour Rd. Westport WP4 2QT today.")
    assert "Westport" not in out and "WP4" not in out, out


@pytest.mark.parametrize(("text", "kept"), [
    ("Ship it to 17 Tannery Road, Hollowmere, since 2019 we have used them.", "since 2019"),
    ("Ship it to 17 Tannery Road, Hollowmere, in march 2025 please.", "march 2025"),
    ("it runs on ubuntu 22", "ubuntu 22"),
    ("see the notes on page 12", "page 12"),
    ("the sale ends on friday 13, sadly", "friday 13"),
    ("Drop the keys at Borska cesta 3, please.", "please"),
    # a phone after the address is a phone, not its postal code
    ("Write to 48 Quarry Hill, Dunmore DN4 7QX, phone 01632 960 555 (office).", ", phone <"),
    # the sentence going on after an address, in lower-case words
    ("Please bring it to 9 Wren Street before noon.", "before noon."),
    ("He lives on via Sardegna 12 in town.", "in town."),
    ("We met at Calle Benítez 8 before lunch.", "before lunch."),
    ("Our new office is at 14 Chandler Quay, Dublin 2, Ireland last year.", "last year."),
    # a contact label before a phone number: not part of the address
    ("The parcel goes to 40 Harbour Road, Westport, phone (505) 555-0199.", ", phone <PHONE"),
    # the brackets of a remark around a value stay in the text
    ("Call the front desk (+1 505-555-0199) before noon.", "desk (<PHONE_NUMBER_1>) before"),
    # a street word English has too, before a name and a number of days
    ("I sent it via Anna 3 days ago.", "via <PERSON"),
    # a capitalised place after a function word is still the town
    ("The office is at 12 Grey Street, Newcastle upon Tyne.", "<STREET_ADDRESS_1>."),
    # a lower-case English word after the town is the sentence going on
    ("Please bring it to 9 Wren Street Boston tomorrow.", "> tomorrow."),
    ("Please bring it to 9 Wren Street Boston quickly, thanks.", "> quickly, thanks."),
    # a function word and a capitalised word of time close the sentence, not the address
    ("Leave the crate at 31 Osprey Lane until Thursday.", "> until Thursday."),
    ("Post it to 8 Kiln Row, Ashby AB1 2CD before Easter.", "> before Easter."),
    # two words English knows joined by a particle after "on" are no street
    ("The cover band played on Fire and Rain 22", "Fire and Rain 22"),
    # a word that ends like a street word of another language ("ten minutes")
    ("Đợi 10 phút nữa nhé.", "10 phút"),
    # a state and a ZIP code without a comma are the address's only at its end
    ("we met at 12 elm st, boston by 02115 and left", "by 02115 and left"),
    # English "tee" after an English word
    ("Golf tee 3 is on sale", "Golf tee 3"),
    # a particle that starts an address does not pull in a word of the sentence
    ("ask them to see de Vries 12 first", "ask them to see"),
    # the sentence going on after a lower-case street's name
    ("We met at 26 rue des lilas in the evening.", "> in the evening."),
    # ... and after the country line of a block whose district number ends a line
    ("Courier: 61 Rue Salem Kaddour\n Suite 5\n Ksar Hellal 3\n Tunisia for order 44",
     "> for order 44"),
    # an English word opening the sentence before the building number is no part of it
    ("See 14 Rue des Tanneurs for the shop.", "See <STREET_ADDRESS_1> for"),
    ("Done. Visit 3 Kestrel Lane next.", "Visit <STREET_ADDRESS_1> next"),
    # a short surname ending in "u" before a full stop and a count is no Hungarian street
    ("I spoke to Mr Wu. 2 days later he called back.", "<PERSON_1>. 2 days later"),
    # a preposition after "address" is no word of the street
    ("Keep the billing address with 4 Kestrel Lane on file.", "address with <STREET_ADDRESS_1>"),
    ("Can you switch my address to 9 Wren Street before Friday?", "address to <STREET"),
    ("The address for the refund is 12 Wren Street, Ostby.", "refund is <STREET_ADDRESS_1>"),
    # "via" and a particle with no street's name: no street
    ("press it via del 2 times", "via del 2 times"),
    # lines of English words or software above a count head no address block
    ("uses pandas\n3 rows", "uses pandas"),
    ("step two\n3 eggs", "step two"),
])
def test_the_words_around_an_address_are_no_part_of_it(
        scrubber: Scrubber, text: str, kept: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert kept in out, out


@pytest.mark.parametrize(("text", "name"), [
    ("we should follow up with dravković about the lease next week.", "dravković"),
    ("the invoice was signed by kovačić and sent back this morning.", "kovačić"),
])
def test_a_lone_word_with_letters_english_does_not_use_is_a_name_in_lower_case_prose(
        scrubber: Scrubber, text: str, name: str) -> None:
    out, spans = scrubber.scrub_text(text)
    assert name not in out
    assert [text[s.start:s.end] for s in spans if s.entity == "PERSON"] == [name]


@pytest.mark.parametrize("text", [
    "she ordered a café latte and sat by the window for an hour.",
    "we had a naïve plan and a long résumé to read before noon.",
])
def test_accented_english_words_are_left(scrubber: Scrubber, text: str) -> None:
    assert not [s for s in scrubber.scrub_text(text)[1] if s.entity == "PERSON"]


@pytest.mark.parametrize("text", [
    "Vardulek is always on time for the meetings.",
    "Tomaszek started working here as a trainee.",
    "Oysín is always on time for the meetings.",
])
def test_an_unknown_title_case_word_tagged_a_noun_before_a_verb_is_a_name(
        scrubber: Scrubber, text: str) -> None:
    nlp = scrubber.detector.analyzer.nlp_engine.nlp["en"]
    first = nlp(text)[0]
    assert first.pos_ == "NOUN" and first.is_oov  # what the rule is for: no PROPN tag
    name = text.split()[0]
    assert [text[s.start:s.end] for s in scrubber.scrub_text(text)[1]
            if s.entity == "PERSON"] == [name]


def test_an_unknown_word_in_another_language_is_not_taken_for_a_name(
        scrubber: Scrubber) -> None:
    text = "Overwegend is het weer goed in het noorden, zegt het weerbericht."
    nlp = scrubber.detector.analyzer.nlp_engine.nlp["en"]
    doc = nlp(text)
    assert doc[0].pos_ == "NOUN" and doc[0].is_oov and doc[1].pos_ == "AUX"
    spans = scrubber.scrub_text(text)[1]
    assert "Overwegend" not in [text[s.start:s.end] for s in spans]


def test_a_parenthetical_remark_keeps_lower_case_text_prose(scrubber: Scrubber) -> None:
    text = "a tribute song (written by zdravko kovačić) was played at noon."
    assert "kovačić" not in scrubber.scrub_text(text)[0]


@pytest.mark.parametrize(("text", "values"), [
    # a zero-width space inside a name, a byte-order mark glued to a street's name
    ("Please forward the forms to Mar\u200bgit Aal\u200btonen at the desk.",
     ["Mar", "git", "Aal", "tonen"]),
    ("The rehearsals were on \ufeffTarvik Crossing Street that year.", ["Tarvik"]),
    ("Oskar \u2060Lindqvist, the Deckhand, said: we are late", ["Oskar", "Lindqvist"]),
    # ... nor stop an address block from growing over the line that follows it
    ("Send it to Vaskipolku 14 \ufeffTarvin Mall\n Suite 3\n Ostby", ["14", "Tarvin"]),
])
def test_invisible_characters_do_not_hide_a_value(
        scrubber: Scrubber, text: str, values: list[str]) -> None:
    out, _ = scrubber.scrub_text(text)
    assert [v for v in values if v in out] == [], out


def test_a_value_with_an_invisible_character_gets_the_same_placeholder(
        scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("Margit Aaltonen signed it; ask Mar\u200bgit Aaltonen why.")
    assert out == "<PERSON_1> signed it; ask <PERSON_1> why.", out


def test_a_found_name_is_found_again_where_an_invisible_character_splits_it(
        scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("Margit Aaltonen signed it. later mar\u200bgit asked why.")
    assert "git" not in out, out


@pytest.mark.parametrize(("text", "name", "kept"), [
    ("Give Olga 5 apples.", "Olga", "5 apples."),
    ("Send Lucia 7 roses.", "Lucia", "7 roses."),
])
def test_a_name_ner_ran_into_a_count_is_still_a_name(
        scrubber: Scrubber, text: str, name: str, kept: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out and kept in out, out


@pytest.mark.parametrize("text", [
    "I'll wait at Marisol and Ferrándiz Oyarzun 41 after the show.",
    "Meet me at Okafor and Brannoc Veltri 7 before dawn.",
])
def test_an_intersection_before_a_word_of_time_is_one_address(
        scrubber: Scrubber, text: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert " at <STREET_ADDRESS_1> " in out and out.count("<") == 1, out


@pytest.mark.parametrize("text", [
    # a kinship noun before slang, a verb or software
    "my brother bro said hi",
    "my son loves lego and trains",
    "my partner pandas script crashed",
    # a list after a noun only people are, with no person in it
    "our friends brought wine, cheese and bread.",
    "the authors compared pandas, polars and duckdb",
    # the possessive of software or of a common noun
    "Python's email module parses the headers.",
    "The Hotel's address is printed on the card.",
    "Open Outlook's address book and search.",
    # a quotation attributed to software
    '"It compiles now," said Copilot.',
    "The Engineer Agent said it was done.",
    # the R language before a version or a count
    "this build depends on r dplyr 1.0 and nothing else",
    "I work in r studio 2 days a week",
])
def test_what_only_looks_like_a_name_or_a_street_stays(scrubber: Scrubber, text: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert out == text, out


def test_a_kinship_noun_before_an_unknown_word_names_someone(scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("please take my daughter ilsabet off the list")
    assert "ilsabet" not in out, out


@pytest.mark.parametrize(("text", "names"), [
    ("Thanks to my colleagues Orvelle, Patton and Long for the review.",
     ["Orvelle", "Patton", "Long"]),
    ("the co-founders were kestrin, tavo and marsh", ["kestrin", "tavo", "marsh"]),
])
def test_a_list_after_a_noun_only_people_are_is_a_list_of_people(
        scrubber: Scrubber, text: str, names: list[str]) -> None:
    out, _ = scrubber.scrub_text(text)
    assert [n for n in names if n in out] == [], out


@pytest.mark.parametrize(("text", "name"), [
    ("Do you still have Florence's phone number?", "Florence"),   # a city too
    ("Could you send me Ember's phone number?", "Ember"),          # a word too
    ("Here it is: Dakota's address", "Dakota"),
    # who a quotation is attributed to
    ('"The harbour will reopen in spring," says Campbell.', "Campbell"),
    ('"Nothing was lost," said Denver, smiling.', "Denver"),
    # a name between a role and a verb of speech
    ("Producer Savannah Reed explained to the crew that it was late.", "Savannah Reed"),
])
def test_a_possessive_a_quotation_or_a_role_names_a_person(
        scrubber: Scrubber, text: str, name: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out, out


@pytest.mark.parametrize(("text", "heads"), [
    # a company line between, or a blank line
    ("Ohual Toledo\nUnilever\n0712 Brunngasse 50\n Suite 3", ["Ohual Toledo"]),
    ("> Roman K. Velikar\n>\n> 575 Rua Tarvola 12\n> Apt. 3", ["Roman K. Velikar"]),
    # English words, software, a company: no addressee
    ("Head Office\n12 Harbour Lane\nWestport", []),
    ("Pandas Support\n12 Harbour Lane\nWestport", []),
    ("Brannoc Logistics\n12 Harbour Lane\nWestport", []),
    # three lines up is too far
    ("Ohual Toledo\nUnilever\nFloor 2\n0712 Brunngasse 50", []),
])
def test_the_line_heading_an_address_block_is_its_addressee(
        scrubber: Scrubber, text: str, heads: list[str]) -> None:
    start = next(i for i in range(len(text)) if text[i].isdigit()
                 and (i == 0 or text[i - 1] in "\n >"))
    found = block_heads(text, [Span(start, len(text), "STREET_ADDRESS", 0.6)],
                        scrubber.detector.words)
    assert [text[s.start:s.end] for s in found if s.entity == "PERSON"] == heads


@pytest.mark.parametrize(("span", "kept"), [
    ("Orvela K Tarnby of Brannoc Holdings Inc.", "Orvela K Tarnby"),
    ("Ilse van der Tarn of Kestrel Systems", "Ilse van der Tarn"),
    ("University of Tarvola Hospital", "University of Tarvola Hospital"),  # no name before
    ("Orvela Tarnby of Ostby", "Orvela Tarnby of Ostby"),  # no firm after
])
def test_a_person_ner_ran_into_the_firm_they_are_of_is_cut_before_it(
        scrubber: Scrubber, span: str, kept: str) -> None:
    text = span + " won the award this year."
    a, b = trim_person(text, 0, len(span), scrubber.detector.words)
    assert text[a:b] == kept


@pytest.mark.parametrize(("text", "name"), [
    ("my son mateo starts school next week", "mateo"),
    ("i think my daughter saanvi loves school", "saanvi"),
])
def test_a_verb_ends_an_organisations_name_in_lower_case(
        scrubber: Scrubber, text: str, name: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out and "school" in out, out


def test_an_organisation_in_lower_case_is_still_no_person(scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("the harlow orchestra plays tonight")
    assert "harlow orchestra" in out, out


@pytest.mark.parametrize(("text", "found", "name"), [
    # the word after or before a found name that no dictionary knows (curate v29)
    ("the orvelio tarnquist demo went well for everyone", "orvelio", "orvelio tarnquist"),
    ("we all liked the kestrinu valdoro record", "valdoro", "kestrinu valdoro"),
    ("please thank dr. ilsabet morvaine for the help", "ilsabet", "ilsabet morvaine"),
])
def test_an_unknown_word_next_to_a_name_in_lower_case_prose_is_part_of_it(
        scrubber: Scrubber, text: str, found: str, name: str) -> None:
    start = text.index(found)
    spans = people(text, [Span(start, start + len(found), "PERSON", 0.85)], [],
                   scrubber.detector.words)
    assert [text[s.start:s.end] for s in spans] == [name]


@pytest.mark.parametrize("text", [
    "we called ilsabet yesterday about the plan",     # English words, inflected too
    "ask ilsabet pandas questions",                   # software
    "o irmão de ilsabet mora longe daqui agora",      # not English: no word stands out
])
def test_english_words_software_and_other_languages_do_not_join_a_lower_case_name(
        scrubber: Scrubber, text: str) -> None:
    start = text.index("ilsabet")
    spans = people(text, [Span(start, start + 7, "PERSON", 0.85)], [],
                   scrubber.detector.words)
    assert [text[s.start:s.end] for s in spans] == ["ilsabet"]


@pytest.mark.parametrize(("text", "found", "name"), [
    ("Even Tarnquist\n\nOrvala\nNorway", "Tarnquist", "Even Tarnquist"),
    ("> Muslim Orvaldsen\n> Kestrel Road 4", "Orvaldsen", "Muslim Orvaldsen"),
])
def test_a_line_that_holds_only_a_name_is_the_name(text: str, found: str, name: str) -> None:
    assert grown(text, found) == [name]


def test_a_word_before_a_name_that_opens_a_sentence_is_not_the_name() -> None:
    assert grown("Even Tarnquist agreed to the plan.", "Tarnquist") == ["Tarnquist"]


@pytest.mark.parametrize(("text", "name"), [
    # a possessive before a work only a person makes
    ("That was never Hollister's song, whatever the radio says.", "Hollister"),
    ("(though rennick's novel was set at sea)", "rennick"),
    # in lower case, a possessive before an address or a family noun
    ("as agreed, here's ilsabet's address:\n\n12 tarvola road", "ilsabet"),
    ("she named him kestrinu after his grandfather", "kestrinu"),
    # the artist after a label
    ("Genre: Drama\nDirected By:    Orvel Tarnby", "Orvel Tarnby"),
])
def test_a_work_a_label_or_a_name_given_names_a_person(
        scrubber: Scrubber, text: str, name: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out, out


@pytest.mark.parametrize("text", [
    "send me python's songs folder",            # software's
    "today's lyrics are on the board",          # an English word's
    "we named them items in the loop",          # an English word given
    "what is eth0's address",                   # an interface, not a person
    "she landed her first starring role in the play",
])
def test_a_possessive_or_a_name_given_in_lower_case_needs_a_name_word(
        scrubber: Scrubber, text: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert out == text, out


@pytest.mark.parametrize(("text", "name"), [
    # whose gender, whose novel or concert, a former member who made a work
    ("fans still argue about the gender of orvelle in it", "orvelle"),
    ("why is tavish so stubborn today?", "tavish"),
    ("a ballad by ex-Zombie Tarvo that charted", "Tarvo"),
    ("a ballad by ex-kinks tarvolin", "tarvolin"),
    ("Unlike the Tarvola memoir, this one is short.", "Tarvola"),
    ("we met at a Lewis Orvelle concert", "Orvelle"),
    ("unlike the tarvola memoir, this one is short", "tarvola"),
    ("the new tarvola novel is out", "tarvola"),
    ("we loved the New Tarvola memoir", "Tarvola"),
    # the answer to a question for a name, a name given as a relative's
    ("bot: what is your surname? tarvolinen", "tarvolinen"),
    ("bot: and your surname?? no. what is your surname? tarvolinen", "tarvolinen"),
    ("Bot: What is your name?\r\n\r\nUser: Orla Tarvo, thanks", "Tarvo"),
    ("Bot: What is your name?\nUser: jared", "jared"),  # a given name, not "jar" + "ed"
    ("My son's name is\norla tarvo", "tarvo"),
    ("he drove Ansgar's kid to school", "Ansgar"),
    ("the lease is in my wife's name, ilsabet varno", "ilsabet varno"),
    # a name that starts with "Mac" or "Mc" and one capital only
    ("though Mccallum's song was about a boat", "Mccallum"),
])
def test_what_only_a_person_has_or_does_names_a_person(
        scrubber: Scrubber, text: str, name: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out, out


@pytest.mark.parametrize("text", [
    "the gender of users is optional",
    "a tool built by ex-Google Engineers",
    "the Gothic novel and a Jazz concert",
    "the Python biography page",
    "a rock concert and the first novel",
    "What is your name? I am the billing assistant.",
    # from an outside review: no role, group, tool or field value is a person
    "Testing is very honest", "Stripe is extremely reliable",
    "Performance is really kind of bad", "label: What is your name?\ntype: text",
    "Please provide your spouse's name, address, and phone number.",
    "my colleague's name is redacted.", "predict the gender of Given Name values",
    "infer the gender of usernames", "a tool built by former Google Engineer",
    "founded by ex-Google Staff", "Node's kids are rendered first.",
    "250 ms ten Times a day",
    # from a second review: places, groups, products and data
    "We went to a San Diego concert last year.", "a memo by former White House counsel",
    "Haiku's sister is Sonnet.", "Mercurial's cousin language",
    "Your spouse's name, Address, Phone", "infer the gender of kaggle users",
    "why is dask so lazy", "hetzner is so reliable", "my wife's nameplate is gold",
])
def test_a_work_or_a_question_without_a_name_word_names_no_one(
        scrubber: Scrubber, text: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert out == text, out


@pytest.mark.parametrize(("text", "address"), [
    # an ordinal street in lower case
    ("please ship it to 5102 33rd street by friday", "5102 33rd street"),
    # a postal code after a lower-case town of three words, or a Dutch code
    ("an office in ostervik tarnau 4410 in its new building", "4410"),
    ("a shop in tarvelde 7721 kt for the summer", "7721 kt"),
    # a preposition before the code does not hide it
    ("i live in leeds at ls6 2qt.", "ls6 2qt"),
    # a German street whose article is capitalised too
    ("It went to An Der Tarvau 12\nOstbyheim", "An Der Tarvau 12"),
])
def test_more_address_shapes_are_addresses(scrubber: Scrubber, text: str, address: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert address not in out and "<STREET_ADDRESS_1>" in out, out


@pytest.mark.parametrize("text", [
    "the route in tarvelde 4410 km for cyclists",   # a distance, not a Dutch code
    "we stayed in the town 4410 days ago",           # English words before it
    "the route in tarvelde 4410 ms for the timer",   # a unit
])
def test_a_number_after_a_town_that_is_no_postal_code_stays(
        scrubber: Scrubber, text: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert "4410" in out, out


def test_an_ordinal_before_a_word_that_is_no_street_type_stays(scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("we won 3 1st place medals")
    assert out == "we won 3 1st place medals", out


@pytest.mark.parametrize(("text", "address"), [
    # a street with no street word, a comma, the postal code and the town (European order)
    ("Forward the parcel to Tarvolankuja 42, 48329 Ostbyheim, Germany.",
     "Tarvolankuja 42, 48329 Ostbyheim, Germany"),
    ("Forward the parcel to 42 Tarvolankuja, 48329 Ostbyheim.",
     "42 Tarvolankuja, 48329 Ostbyheim"),
    # the town, the country and the postal code after it, closing a question
    ("Can you mail a new card to 42 Tarvolankuja, Ostbyheim, Germany 89774?",
     "42 Tarvolankuja, Ostbyheim, Germany 89774"),
    # a house number with a letter, a flat or a range; a postal code with a country's
    # letters or in two groups
    ("Forward the parcel to Marvessen 42 A, 48329 Ostbyheim by Friday.",
     "Marvessen 42 A, 48329 Ostbyheim"),
    ("Forward the parcel to Marvessen 42/3, D-48329 Ostbyheim.",
     "Marvessen 42/3, D-48329 Ostbyheim"),
    ("Forward the parcel to Marvessen 42-44, 114 55 Ostbyheim.",
     "Marvessen 42-44, 114 55 Ostbyheim"),
])
def test_a_street_a_comma_and_a_postal_code_make_an_address_with_no_cue(
        scrubber: Scrubber, text: str, address: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert out == text.replace(address, "<STREET_ADDRESS_1>"), out


@pytest.mark.parametrize("text", [
    "Upgrade to Windows 10 Pro, Build 19045 before the release.",  # software and its build
    "Read Chapter 12 Summary, Exercises 10000 times.",             # English words only
    "Deploy Node 18, Express 4000 on the host.",                   # software names
    "Zone 5 North, The Yard 12345 is closed.",                     # a function word
    # a unit or a currency after a number (not a town in title case), or a lower-case word
    "GPU 1, 16384 MiB free", "Suite Room 4, 21000 JPY per night", "Tesla Model 3, 38990 USD",
    "Lufthansa LH 400, 5120 Kilometers nonstop", "Hetzner CPX 31, 4096 MB RAM",
])
def test_numbered_english_or_software_names_and_a_number_are_no_address(
        scrubber: Scrubber, text: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert "STREET_ADDRESS" not in out, out


@pytest.mark.parametrize(("rule", "text"), [
    ("person_initial", "Welcome! How Can I Help You Right Now?"),  # a headline's "I"
    ("person_initial", "Learn To Build A Bot In Python"),          # and its "A"
    ("street_prefix", "Main Boulevard are on the 5 route now"),    # a verb of the sentence
    ("street_prefix", "the Avenue is on the 3 map"),
])
def test_headline_words_and_a_sentence_after_a_street_word_are_no_pii(
        scrubber: Scrubber, rule: str, text: str) -> None:
    assert not list(RULES[rule].find(text, scrubber.detector.words))


@pytest.mark.parametrize(("rule", "text", "value"), [
    ("person_initial", "Please send it to Orvelle I Tarvonen today", "Orvelle I Tarvonen"),
    # a given name that is an English word, where no title-case run goes on
    ("person_initial", "He said Will A Tarvonen signed the lease.", "Will A Tarvonen"),
    ("person_initial", "From: Grant A Tarvonen", "Grant A Tarvonen"),
    ("person_initial", "the lyrics of Orvelle A Tarvonen's Quiet Songs", "Orvelle A Tarvonen's"),
    ("street_prefix", "The studio is at Boulevard des Tarvelles 14", "Boulevard des Tarvelles 14"),
    ("street_prefix", "Meet on Avenue Of The Tarvelles 1211", "Avenue Of The Tarvelles 1211"),
    # particles that are English function words too
    ("street_prefix", "We stay at Via in Tarvola 10, Roma.", "Via in Tarvola 10"),
    ("street_prefix", "Reach us at Paseo a la Tarvola 9.", "Paseo a la Tarvola 9"),
    ("street_prefix", "Send it to 7 Via Tarvoldi.", "7 Via Tarvoldi"),
])
def test_an_initial_and_a_street_led_by_its_word_are_still_found(
        scrubber: Scrubber, rule: str, text: str, value: str) -> None:
    found = [text[a:b] for a, b, _ in RULES[rule].find(text, scrubber.detector.words)]
    assert any(value in f for f in found), found


@pytest.mark.parametrize(("text", "address"), [
    # a town's name with a word in brackets, before its postal code
    ("We back a bakery in Ostbyheim (Tarvik) 15236 in its growth.", "Ostbyheim (Tarvik) 15236"),
    # an intersection whose first street is abbreviated before its number
    ("Move my mail to the corner of Tarvolastr. 14 and Orvel Lane for now.",
     "the corner of Tarvolastr. 14 and Orvel Lane"),
    # a Slavic street led by its preposition
    ("The kiosk is on Na Tarvolce 19", "Na Tarvolce 19"),
    ("The kiosk is on Pod Tarvolami 12.", "Pod Tarvolami 12"),
    # a house number of one digit where a place is on the street
    ("Our bakery is located on Ostbyhavn 5", "Ostbyhavn 5"),
    # a French street with lower-case words before the capitalised end of its name
    ("The poem is about 93 rue des trois frères Tarvelle street in town.",
     "93 rue des trois frères Tarvelle"),
])
def test_towns_in_brackets_abbreviated_and_slavic_streets_are_addresses(
        scrubber: Scrubber, text: str, address: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert out == text.replace(address, "<STREET_ADDRESS_1>"), out


@pytest.mark.parametrize("text", [
    # a sentence's full stop, in lower case or after a word that is no street's
    "On the corner of the table. 3 cups and a plate.",
    "Drag it to the corner of the Window. 2. Click Save and close it.",
    # English words, a unit, a letter or software in brackets
    "Tests run in Python (CPython) 3120 in total.",
    "We saw a drop in Revenue (USD) 4500, mostly in Q3.",
    "Results are stored in Column (B) 250 and up.",
    "The fix is in Release (Beta) 2301 and later.",
    "Revenue in Ulm (Germany) 4500, up from last year.",
    "Arena Elo in Claude (Opus) 1302 and in Olmo (Instruct) 1150.",
    "Johann Weber was born in Gmund (Baden) 1852, a weaver's son.",
    # a Slavic preposition that is English text's, or before software or an id
    "I first heard it on Pod Save America 12.", "The drug acts on Na Channel 4.",
    "The error occurs on Pod Kube-Proxy 2.", "Deployed on POD XJ9 4.",
    # a line, a channel or a floor numbered after a building
    "The metro station is on Linha 4.", "The apartment is on Piso 3.",
    # a model, a framework or a date: one digit is a house number only for a building
    "It was trained on Gemma 2.", "We fine-tuned it on Nemotron 4.", "The game runs on Godot 4",
    "The shop is on Shopware 6, and checkout works.", "The main branch is on Symfony 6.",
    "The pub is on Jan 5.",
    "We hired Tom Hale Jr. 2 years ago.",
])
def test_a_full_stop_or_brackets_before_a_number_make_no_address(
        scrubber: Scrubber, text: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert "STREET_ADDRESS" not in out, out


@pytest.mark.parametrize(("text", "rest"), [
    ("We met at 8 rue du moulin and then left near the river.",
     " and then left near the river."),
    ("We met at 8 rue du moulin then Anna left.", " then <PERSON_1> left."),
    ("I stayed at 9 rue des lilas all Summer.", " all Summer."),
    ("The flat at 8 rue du bac says Marie is lovely.", " says <PERSON_1> is lovely."),
    ("Our agent at 8 rue du moulin texted Marie and left.", " texted <PERSON_1> and left."),
])
def test_a_french_street_ends_where_the_sentence_goes_on(
        scrubber: Scrubber, text: str, rest: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert out.endswith("<STREET_ADDRESS_1>" + rest), out


def test_a_word_in_brackets_joins_an_address_block_only_before_its_end(
        scrubber: Scrubber) -> None:
    block, _ = scrubber.scrub_text("Send it to 12 Tarvola Str.\n Suite 4\n Ostby (Vik)\n"
                                   " Norway for post mail?")
    assert block == "Send it to <STREET_ADDRESS_1> for post mail?", block
    form, _ = scrubber.scrub_text("Enter 12 Harbour Lane, Leeds (Required) Then Click Save")
    assert form.endswith("> (Required) Then Click Save"), form


def test_a_given_name_is_no_model_name(scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("Jamba said he would call back tomorrow.")
    assert out == "<PERSON_1> said he would call back tomorrow.", out
