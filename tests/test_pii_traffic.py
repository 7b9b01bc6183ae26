"""Agent traffic is full of capitalised words, code and markup that are no PII: dates in
headers, emphasis, prompt field labels, code identifiers and types, date formats, tool
schemas, software names. Scrubbing them costs the small model the very text it must
learn to write, so each case here must come through untouched, and the names next to
them must still go.

Every string here is written for these tests."""

from __future__ import annotations

import pytest

from slmconvert.pii import recognizers as rec
from slmconvert.pii.config import PiiConfig
from slmconvert.pii.occurrences import CasedOnly, Occurrences
from slmconvert.pii.scrubber import Scrubber


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig())


CODE = '''from typing import Any, Dict, Optional
import pygame


class Kettle:
    """Boils water.

    Returns:
        bool: True when the water boils.
    """

    def __init__(self, volume: int) -> None:
        self.volume = volume
        self.state: Dict = {}

    def heat(self, step: str) -> list:
        if event.type == pygame.QUIT:
            return []
        return [Kettle(self.volume)]


def mix(a, b):
    return a + b
'''


@pytest.mark.parametrize(("text", "kept"), [
    # weekdays and months of a date, as in an HTTP header
    ("Date: Thu, 14 Mar 2024 10:12:01 GMT", ["Thu", "Mar"]),
    ("last-modified: Wed, 03 Jun 2026 08:41:07 GMT", ["Wed", "Jun"]),
    ("The release is planned for 7 Jan and the review for Jan 21.", ["Jan"]),
    # a word in capitals for emphasis, and a label in capitals
    ("Remember: this is EXTREMELY important, so check each answer twice.", ["EXTREMELY"]),
    ("WARNING: never delete the backups folder.", ["WARNING"]),
    # temperature scales
    ("Convert 37 degrees Celsius to Fahrenheit and report both.", ["Celsius", "Fahrenheit"]),
    ("The gas sample sits at 273 Kelvin before heating.", ["Kelvin"]),
    # the fields of a prompt, written like the lines of a dialogue
    ("Objective: Summarise the lesson in two lines.\nRequirement: Write in Spanish.\n"
     "Tone: Friendly and short.", ["Objective", "Requirement", "Tone"]),
    # a date format
    ("Pass the day as YYYY-MM-DD and the time as HH:MM:SS.", ["YYYY-MM-DD", "HH:MM:SS"]),
    ("Give the start as 'YYYY-MM-DD' and the stamp as 'YYYY-MM-DDTHH:MM'.", ["YYYY-MM-DD"]),
    # a thing's name after "Tool Name:"
    ("Tool Name: Hand over research to colleague\nTool Arguments: {}", ["Hand"]),
    # software and technology companies
    ("Open a Jupyter notebook, load it with Pandas and plot with Plotly.", ["Jupyter"]),
    ("Start the Pygame window after installing Conda.", ["Pygame", "Conda"]),
    # the title of a field in a tool's JSON schema is its key in title case
    ("{'helper': {'title': 'Helper', 'type': 'string'}, "
     "'extra_args': {'title': 'Extra Args', 'type': 'object'}}", ["Helper", "Extra Args"]),
    # lower-case words around an article are no name with a middle initial
    ("Undo the last step only if a move is illegal.", ["move"]),
    # versions, pages, editions and years after a word English or software knows
    ("The figures are on Page 12.", ["Page 12"]),
    ("The model runs on Qwen 72.", ["Qwen 72"]),
    ("It ran in Windows 2000 for years.", ["Windows 2000"]),
    ("Sales grew in 2021 and in Europe 2022.", ["Europe 2022"]),
    ("I worked at Microsoft 2019.", ["Microsoft 2019"]),
    # standards, list numbering after a word ending like a street, coordinates
    ("Log every stamp in UTC ISO 8601, for example '2024-02-03T10:00:00Z'.", ["ISO 8601"]),
    ("Strings are text by default (PEP 3100) - bytes are apart.", ["PEP 3100"]),
    ("Rules:\n1. Answer briefly.\n2. Never repeat the notes sent to you.\n3. Return markdown.",
     ["you.\n3. Return"]),
    ("Our mast was located at coordinates 41.3851 and 2.1734 on the hill.", ["41.3851"]),
    # an alphabet spelled out, and a class or product named in camel case
    ("Trace the alphabet: Aa Bb Cc Dd Ee Ff Gg, then say Bb twice.", ["Aa Bb Cc", "Bb twice"]),
    ("Write Builder if the fault is in the build scripts, and QaTester to faulty test "
     "files, and NoOne if nothing failed.", ["QaTester"]),
    # a reply after a speaker label opens with a greeting or a function word, no name
    ("Guest: Sure, it's the second booking.\nGuest: No, that's everything.", ["Sure", "No"]),
    ("Passenger: We missed the connection. Can you rebook us?", ["We", "Can"]),
    ("Please call me back tomorrow.", ["back tomorrow"]),
    # in lower case an article is no middle initial, and a particle alone is no name
    ("i need a ride from the airport at noon", ["need a ride"]),
    ("we had fried rice and tacos al pastor for dinner", ["al pastor"]),
    # a proper noun ending in the kind of site it names
    ("Day 2: Korvath Tower and the Sellindra Monastery, then Pavonne Zoo.",
     ["Sellindra Monastery", "Pavonne Zoo"]),
    ("Day 3: the Vardøhus Fortress in the morning, then the Ostrava Aquarium.",
     ["Vardøhus Fortress"]),
    # an airline before its flight number
    ("Options: 1. Aer Lingus EI 1479 at 07:25; 2. Lufthansa LH 441 at 09:10.",
     ["Aer Lingus", "Lufthansa"]),
    # headings and terms of dictionary words, one of them abstract, no word of a name
    ("[Chatbot Development] [Workflow Automation] [Enterprise Integration]",
     ["Chatbot Development"]),
    # a span of years is no phone number
    ("Attendance fell in the 2021-2024 seasons and rose in 2015 - 2019.", ["2021-2024"]),
    # a model's or package's slug with a version, whose first word is a given name
    ("claude-sonnet-3-7", ["claude-sonnet-3-7"]),
    ("set model to mistral-large-2-1-20250101", ["mistral-large-2-1-20250101"]),
    ("ruby-parser-2.4", ["ruby-parser-2.4"]),
    # a test class and its file named in camel case with digits, in a path
    ("see tests/llm/TestAnthropicLLM35HaikuToolStreamingXML.test_retry.yaml",
     ["TestAnthropicLLM35HaikuToolStreamingXML"]),
    ("class TestVertexGPT4oBatchUploadV2Integration:", ["TestVertexGPT4oBatchUploadV2"]),
    ("![cover](https://blog.example.org/media/2025/03/How-Small-Models-Beat-Large-Ones-"
     "In-2025.png)", ["How-Small-Models"]),
    # a product or feature: a word English lacks and an abstract noun
    ("Read the Quorvix Integration guide first.", ["Quorvix Integration"]),
    ("Zentrix Automation handles the nightly jobs.", ["Zentrix Automation"]),
    # an agent's own name in its prompt, ending in the part it plays
    ("You are Orvane Review Agent. You check pull requests.", ["Orvane Review Agent"]),
    ("Escalate to the Zentrix Support Team if unsure.", ["Zentrix Support Team"]),
    # an abbreviation before its number in a reference
    ("Source: Journal of Dry Lands, April 2025, Vol. 320, No. 4", ["Vol. 320"]),
    # a heading led by an "-ing" form
    ("## Harnessing Vendor Feedback Loops\nText here.", ["Harnessing Vendor"]),
    # the first half of a compound with an English word ("Multi-Agent")
    ("* [Overview]\n* [Scaling Multi-Agent Workflows in Practice]\n* [Costs]", ["Multi-Agent"]),
    # the verb 'miss' is no form of address
    ("Subscribe so you don't miss on the next release.", ["miss on the"]),
    # a lone letter with a full stop between English words is no middle initial
    ("see the notes in item a. above", ["item a. above"]),
    ("our fallback is plan b. then we retry", ["plan b. then"]),
    # a control's label repeated after the names of a page's panels
    ("Panels:\nQuorvix Toggle\nZentrix Toggle\nCode Toggle\nSearch Toggle\nMap Toggle",
     ["Quorvix Toggle"]),
])
def test_traffic_is_kept(scrubber: Scrubber, text: str, kept: list[str]) -> None:
    out, spans = scrubber.scrub_text(text)
    assert not spans, [(s.entity, text[s.start:s.end]) for s in spans]
    for word in kept:
        assert word in out


def test_code_is_kept(scrubber: Scrubber) -> None:
    out, spans = scrubber.scrub_text(CODE)
    assert not spans, [(s.entity, CODE[s.start:s.end]) for s in spans]
    assert out == CODE


@pytest.mark.parametrize("text", [
    "api_key: Optional[str] = Field(default=None)",
    "access_token = self.service_token",
    "api_key=os.environ['SEARCH_API_KEY']",
])
def test_code_assigning_a_secret_is_kept(scrubber: Scrubber, text: str) -> None:
    assert not scrubber.scrub_text(text)[1]


@pytest.mark.parametrize(("text", "secret"), [
    ("password: tulip77rain", "tulip77rain"),
    ("api_key = 'kq81XmZ0pLr3vT9w'", "kq81XmZ0pLr3vT9w"),
    # random base64 with runs of lower-case letters is still a secret
    ("nonce GK7KrQ/Ou/YdEBtqD0HYRA== sent", "GK7KrQ/Ou/YdEBtqD0HYRA=="),
])
def test_a_secret_assigned_is_still_a_secret(scrubber: Scrubber, text: str,
                                              secret: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert secret not in out, out


@pytest.mark.parametrize(("text", "name"), [
    # names next to the same kinds of text still go
    ("Jan said the build on Thu, 14 Mar 2024 failed.", "Jan"),
    ("Please ask JUNE OKAFOR to sign the form.", "OKAFOR"),
    ("Cheers, Kelvin", "Kelvin"),
    ("Ilsabet: Where is the kettle?\nMarrow: In the kitchen.", "Ilsabet"),
    ("Ilsa: What a day.\nThomas: Remember me, Tavi?\nLaura: Sure.", "Thomas"),
    ('Hope: "Is it late?"\nHope: "Not for me."', "Hope"),
    # names that are also dictionary words, in a dialogue where NER knows one of them
    ("Norma: Which bus is it?\nSue: The late one.\nShannon: Fine by me.", "Shannon"),
    ('author = "Teodora Vasquez"\nclass Kettle:\n    pass', "Teodora Vasquez"),
    ("Support agent name: Teodora Vasquez", "Teodora Vasquez"),
    # a quoted name of dictionary words keeps its quotes, so it is no quoted title
    ("Look up the poems by the writer 'Harper Wells' in the archive.", "Harper Wells"),
    ("1. **Tarik Osei**  \n   - Role: Striker\n\n2. **Ondine Varga**  \n   - Role: Keeper",
     "Tarik Osei"),
    # names written in two capitalised parts
    ("Ask MacKellan about the lease.", "MacKellan"),
    ("The keys are with DiVarco and LeShawn today.", "LeShawn"),
    # given names that end like abstract nouns, and a name joined by 'and'
    ("Olek and Trinity went home.", "Trinity"),
    ("Our founders: Ines Moreau and Tom Business.", "Tom Business"),
    ("Florence: Is the hall booked?\nOskar: Since noon.\nMirela: Good.", "Florence"),
    # a role noun after a given name, a speaker under a name, a title before a name
    ("Ask Tom Agent about the lease.", "Tom"),
    ("Author: Tarik Osei\nFlorence: see https://example.org", "Florence"),
    ("i told miss harrow about it", "harrow"),
    ("Ask Kowalczyk-Baker about the lease.", "Kowalczyk"),
    # a short name that ends a sentence before a number
    ("I called Anna. 3 people came.", "Anna"),
    # a lower-case name with a middle initial, neither name an English word
    ("we saw the tavo k. lindqvist show last night", "lindqvist"),
    ("> oresto l. bianchetti\n> tarvola plc\n> 12 kestrel way", "oresto"),
    # three people of one surname that is an English word
    ("Family:\nTavi Baker\nOrvel Baker\nKestin Baker\nPhone us.", "Orvel"),
    ('Cast: "Ezra Vane", "Orvel Vane" and "Baby Vane"', "Orvel"),
])
def test_names_in_traffic_still_go(scrubber: Scrubber, text: str, name: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out, out


@pytest.mark.parametrize(("text", "name", "kept"), [
    # a function word that is also a given name is still a name after "my name is"
    ("My name is Will.", "Will", "My name is"),
    # a given name before a site word is a person's
    ("I met Anna Tower yesterday.", "Anna Tower", "I met"),
    ("Guest: May Okafor", "May Okafor", "Guest:"),
    # a name ends at the end of its line and at "and" before a pronoun
    ("Thanks, Ilsabet Marrow\nThanks again for the help.", "Ilsabet Marrow", "Thanks again"),
    ("My name is Tarik Osei and I'd like a room.", "Tarik Osei", "I'd like"),
    # nor is the greeting before it
    ("Hello Ondine, your seat is confirmed.", "Ondine", "Hello"),
    # the field label on the line under a name is no part of it
    ("Full name: Tarik Osei\nDate of birth: 1990-01-02", "Tarik Osei", "Date of birth"),
    # a verb before a lower-case name is no part of it
    ("my uncle was called oskar vendt, and his wife was called ilse maren", "oskar vendt",
     "was called"),
])
def test_a_name_ends_where_the_next_words_begin(scrubber: Scrubber, text: str, name: str,
                                                kept: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert name not in out and kept in out, out


def test_ner_names_are_cut_at_lines_and_spaced_dashes(scrubber: Scrubber) -> None:
    from presidio_analyzer import RecognizerResult

    detector = scrubber.detector
    text = "Call log - agent Tavi Brandt - length 9 min\nNotes:\nOndine Varga\nvoicemail"
    parts = [text[s.start:s.end] for s in detector._spans(
        text, RecognizerResult("PERSON", text.index("Tavi"), text.index(" 9 min"), 0.85),
        frozenset())]
    assert parts == ["Tavi Brandt"]
    found = detector._spans(text, RecognizerResult(
        "PERSON", text.index("Ondine"), len(text), 0.85), frozenset())
    assert [text[s.start:s.end] for s in found] == ["Ondine Varga"]


def test_markdown_around_a_name_is_no_part_of_it(scrubber: Scrubber) -> None:
    text = ("1. **Tarik Osei**  \n   - Role: Striker\n\n2. **Ondine Varga**  \n"
            "   - Role: Keeper\n   - **Notes**: fast")
    out, spans = scrubber.scrub_text(text)
    assert out.count("**") == text.count("**"), out
    assert "- Role" in out and "Notes" in out
    for s in spans:
        assert text[s.start].isalpha() and text[s.end - 1].isalpha(), text[s.start:s.end]


def test_name_parts_hold_letters() -> None:
    found = Occurrences({"tarik osei**": "PERSON", "- *": "PERSON"})
    assert found.parts == {"tarik", "osei"}
    assert not list(found.find("**bold** and - * a list"))


def test_the_words_of_a_heading_ner_calls_a_person_are_not_searched_alone() -> None:
    words = frozenset({"quiet", "harbour", "deployment", "secure", "roadmap", "agent",
                       "system", "bank", "victor", "chatbot"})
    heading = Occurrences({"secure deployment roadmap": "PERSON"}, CasedOnly(words))
    assert heading.parts == set() and heading.cased_parts == set()
    assert not list(heading.find("A Secure Roadmap for the Deployment."))
    assert list(heading.find("see secure  deployment roadmap"))  # the whole value still is
    tech = Occurrences({"chatbot deployment": "PERSON"}, CasedOnly(words))
    assert tech.parts == set() and tech.cased_parts == set()
    # words of a name: a given name, an initial, a word English has not; and words with
    # no ending of an abstract noun, which is what surnames in a dictionary look like
    for name in ("anna banks", "lorvick banks", "t. m. banks", "victor banks",
                 "mrs. banks", "quiet banks"):
        person = Occurrences({name: "PERSON"}, CasedOnly(words))
        assert "banks" in person.cased_parts, name
        assert [m.start for m in person.find("Banks said the banks were shut")] == [0]


def test_a_heading_found_as_a_person_is_no_person() -> None:
    words = frozenset({"development", "business", "technical", "clement", "felicity",
                       "victor", "agile", "support"})
    for value in ("Development", "Business", "Technical Support", "Agile Development"):
        assert rec.heading(value.split(), words), value
    # a given name that is an English word, a form of address, a word English lacks
    for value in ("Clement", "Felicity", "Victor Clement", "Mr Business", "Zorvane Development"):
        assert not rec.heading(value.split(), words), value


def test_a_heading_led_by_an_ing_form_is_no_person() -> None:
    words = frozenset({"harness", "vendor", "feedback", "loop", "brown", "field", "picture",
                       "protocol"})
    for value in ("Harnessing Vendor Feedback Loops", "Picturing Protocols"):
        assert rec.heading(value.split(), words), value
    # the "-ing" form of a short word is a surname; a word English lacks; one word alone
    for value in ("Browning Feedback", "Fielding Vendor", "Harnessing Zorvane", "Harnessing"):
        assert not rec.heading(value.split(), words), value
    assert rec.ordinary_word("Harnessing", words) and not rec.ordinary_word("Browning", words)


def test_a_label_on_the_line_under_a_name_is_no_part_of_it(scrubber: Scrubber) -> None:
    # NER runs the name into the next line's label; a link or an empty field follows it
    out, _ = scrubber.scrub_text("Title: Agents\nAuthor: Tarik Osei\n"
                                 "Image: https://cdn.example.org/a.png\nFavicon: None")
    assert "Tarik" not in out and "\nImage: https://cdn" in out, out


def test_an_abstract_noun_joined_to_a_name_by_and_is_no_person(scrubber: Scrubber) -> None:
    out, _ = scrubber.scrub_text("* [Gen AI Development]\n* [Chatbot Dev & Integration]\n"
                                 "* [Quorvix Integration]")
    assert "& Integration]" in out and "[Quorvix Integration]" in out, out


def test_a_phrase_ending_in_an_abstract_noun_or_a_role_is_no_person() -> None:
    words = frozenset({"integration", "automation", "business", "constable", "patience",
                       "governance", "capability", "technology", "florence", "prudence"})
    for value in ("Quorvix Integration", "Automation", "Okafor & Business",
                  "Orvane Capabilities", "Zentrix Technologies", "Async Test Agent",
                  "Quorvix Assistants", "Support Team"):
        assert rec.term_phrase(value.split(), words), value
    # a surname with an adjective's ending, a given name that is an abstract noun, a
    # phrase with a given name, a word English lacks
    for value in ("Kowalski Constable", "Patience", "Anna Governance", "Zorvane Integrasion",
                  "Florence", "Orla Prudence", "Tom Agent", "Agent Kowalski"):
        assert not rec.term_phrase(value.split(), words), value


def test_a_name_closing_a_sentence_is_no_identifier() -> None:
    found = Occurrences({"lorvick banks": "PERSON"})
    text = "We met Lorvick Banks. Then lorvick_b2 wrote."
    assert [text[s.start:s.end] for s in found.find(text) if s.entity == "PERSON_ID"] == [
        "lorvick_b2"]


def test_plural_words_are_searched_only_capitalised() -> None:
    cased = CasedOnly(frozenset({"agent", "system", "company"}))
    assert "agents" in cased and "systems" in cased and "companies" in cased
    assert "zorvex" not in cased and "odile" not in cased and "li" not in cased
    assert "roberts" not in cased  # a given name's plural is a surname


@pytest.mark.parametrize("text", [
    "if api_key == self.api_key:\n    return True",
    'client = Client(api_key=os.environ.get(\\"ZORVEX_KEY\\"))',
    "password:\n    description: the user's password",
])
def test_code_around_a_secret_name_is_no_secret(scrubber: Scrubber, text: str) -> None:
    out, spans = scrubber.scrub_text(text)
    assert not [s for s in spans if s.entity in ("SECRET", "API_KEY")], out


def test_speakers_of_a_form_are_fields() -> None:
    form = "Objective: Summarise it.\nRequirement: Write in Spanish."
    dialogue = "Ilsabet: Where were you?\nMolly: At home."
    words = frozenset({"objective", "requirement", "molly"})
    assert list(rec.dialogue_speakers(form, words)) == []
    assert [dialogue[a:b] for a, b, _ in rec.dialogue_speakers(dialogue, words)] == [
        "Ilsabet", "Molly"]
    code = "Returns:\n    str: The summary.\n    dict: The data."
    assert list(rec.dialogue_speakers(code, words)) == []


def test_the_fields_of_a_record_with_many_labels_are_no_speakers(scrubber: Scrubber) -> None:
    record = ("Title: Small models at work\nURL: https://example.org/p/41\nScore: None\n"
              "Author: Ines Varga\nFavicon: none\nSubpages: None\nText: They win.\n"
              "Title: Routing calls\nURL: https://example.org/p/42\nScore: 0.8\n"
              "Author: Tomasz Lenk\nFavicon: none\nSubpages: None\nText: It helps.")
    out, _ = scrubber.scrub_text(record)
    for label in ("Score:", "Author:", "Favicon:", "Subpages:", "Text:"):
        assert out.count(label) == 2, out
    assert "Ines" not in out and "Tomasz" not in out
    # a dialogue of many speakers with unfamiliar names is still a dialogue
    talk = ("Okafor: We start.\nLindqvist: Agreed.\nTamsin: Yes.\nBrannoc: No.\n"
            "Quillon: Maybe.\nOkafor: Done.")
    out, _ = scrubber.scrub_text(talk)
    assert not [w for w in ("Okafor", "Lindqvist", "Brannoc", "Quillon") if w in out], out


@pytest.mark.parametrize(("text", "kept"), [
    # the verb of an instruction, not a name (curate v29)
    ("Task 4: Tokenize the corpus and count the words", "Tokenize"),
    ("Preprocess the data first", "Preprocess"),
    # a parameter before its type
    ("'signature': '(self, cmd: str, timeout=30) -> str', 'doc': \"Args: cmd (str): what "
     "to run.\"", "cmd"),
])
def test_instructions_and_parameters_are_no_names(
        scrubber: Scrubber, text: str, kept: str) -> None:
    out, _ = scrubber.scrub_text(text)
    assert kept in out and "<" not in out.replace("->", ""), out


@pytest.mark.parametrize(("text", "names"), [
    ("Brannoc the baker came by.", ["Brannoc"]),           # an appositive, no verb
    ("Send Mr. Cooper the invoice.", ["Cooper"]),           # after a title
    ("Dr. Cohen this week filed a motion.", ["Cohen"]),
    # a surname with a verb's ending or prefix but no English verb in it
    ("Thanks. Applegate the landlord called again.", ["Applegate"]),
    ("Ok. Overstreet the plumber is booked.", ["Overstreet"]),
    # speakers whose line starts with a type's name
    ("Okafor: Any news on the invoice?\nIlsabet: None yet.", ["Okafor", "Ilsabet"]),
    ("Tove Arnesen: list the files\nOrla Brannoc: done", ["Tove Arnesen", "Orla Brannoc"]),
])
def test_names_that_only_look_like_instructions_or_parameters_go(
        scrubber: Scrubber, text: str, names: list[str]) -> None:
    out, _ = scrubber.scrub_text(text)
    assert [n for n in names if n in out] == [], out
