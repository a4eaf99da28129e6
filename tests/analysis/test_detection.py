"""Broken-promise detection: each category in Dutch and English, and the traps."""

from __future__ import annotations

import pytest

from survey_app.analysis import PromisedItem, analyze_comment
from survey_app.analysis.detector import DetectorConfig

RULES_ONLY = DetectorConfig(use_model=False)


@pytest.mark.parametrize(
    ("text", "language", "category"),
    [
        ("alle vestigingen waren dicht", "nl", "closed_location"),
        ("adam noord was geslote!!!", "nl", "closed_location"),  # typo
        ("het filiaal was om vier uur niet meer open", "nl", "closed_location"),
        ("Went there on saturday, the branch was closed", "en", "closed_location"),
        ("De kortingscode werkte niet", "nl", "offer_not_honoured"),
        ("de kortingscodes werkten niet bij het afrekenen", "nl", "offer_not_honoured"),  # compound
        ("Discount code didn't work at checkout.", "en", "offer_not_honoured"),
        ("The weekend code was not accepted at the desk", "en", "offer_not_honoured"),
        ("Het product uit de folder was al uitverkocht.", "nl", "out_of_stock"),
        ("The headphones were sold out on launch day", "en", "out_of_stock"),
        ("In de folder 89 euro, aan de kassa 119", "nl", "price_mismatch"),
        ("Price at the till was higher than advertised.", "en", "price_mismatch"),
        ("de link in de mail werkte niet", "nl", "link_or_site_broken"),
        ("the page just says error 500", "en", "link_or_site_broken"),
        ("the website was down all evening", "en", "link_or_site_broken"),
        ("de site lag eruit", "nl", "link_or_site_broken"),
        ("Het adres in de mail klopte niet", "nl", "wrong_information"),
        ("The opening hours on the website were wrong", "en", "wrong_information"),
        ("Zo was het niet omschreven in de advertentie", "nl", "other"),
    ],
)
def test_each_category_is_found(text: str, language: str, category: str) -> None:
    result = analyze_comment(text, language=language, config=RULES_ONLY)
    assert result.broken_promise
    assert category in result.categories


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("de vestiging was gewoon open", "nl"),  # negated failure
        ("The store was not closed at all", "en"),
        ("de code werkte prima", "nl"),
        ("code worked, free shipping", "en"),
        ("this place is out of this world", "en"),  # idioms
        ("de deal was snel gesloten", "nl"),
        ("we closed the deal in ten minutes", "en"),
        ("closed for renovation, as the mail already said", "en"),  # announced closure
        ("Filiaal Zwolle was dicht vanwege de verbouwing, zoals in de mail stond", "nl"),
        ("Ik dacht dat hij uitverkocht zou zijn maar nee hoor", "nl"),
        ("wachtrij van drie kwartier", "nl"),  # a complaint, but no promise broken
        ("we are close to the station", "en"),
        ("closing time was 5pm, staff were friendly", "en"),
        ("I closed my account afterwards", "en"),
    ],
)
def test_traps_are_not_flagged(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, config=RULES_ONLY)
    assert not result.broken_promise, result.findings


def test_a_negation_in_one_sentence_does_not_cancel_a_closure_in_the_next() -> None:
    result = analyze_comment("De code werkte niet. De vestiging was dicht.", language="nl", config=RULES_ONLY)
    assert {"offer_not_honoured", "closed_location"} <= set(result.categories)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Super service weer, Rotterdam Centraal gewoon dicht op een dinsdagochtend 👏", "nl"),
        ("Great, just great. The store was closed again.", "en"),
    ],
)
def test_sarcasm_is_still_a_failure(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, config=RULES_ONLY)
    assert "closed_location" in result.categories


def test_a_promoter_score_drops_an_ambiguous_cue() -> None:
    text = "lichten waren uit"
    assert analyze_comment(text, score=2, language="nl", config=RULES_ONLY).broken_promise
    assert not analyze_comment(text, score=10, language="nl", config=RULES_ONLY).broken_promise


def test_a_clear_failure_survives_a_high_score() -> None:
    result = analyze_comment("De kortingscode werkte niet", score=9, language="nl", config=RULES_ONLY)
    assert "offer_not_honoured" in result.categories


def test_the_finding_span_points_at_the_evidence_in_the_original_text() -> None:
    text = "Aardig personeel.   De  vestiging  was  DICHT."
    result = analyze_comment(text, language="nl", config=RULES_ONLY)
    (finding,) = result.findings
    start, end = finding.span
    assert "DICHT" in text[start:end]
    assert "personeel" not in text[start:end]
    assert finding.source == "rule"
    assert 0 < finding.confidence <= 1


UTRECHT = PromisedItem(kind="location", label="Utrecht Centraal", aliases=("Utrecht CS",), city="Utrecht")
ROTTERDAM = PromisedItem(kind="location", label="Rotterdam Centraal", aliases=("Rotterdam CS",), city="Rotterdam")
CODE = PromisedItem(kind="offer", label="WEEKEND20", aliases=("weekend code",))


def test_a_finding_names_the_item_in_its_clause() -> None:
    result = analyze_comment(
        "Utrecht CS was open, maar Rotterdam CS was dicht", language="nl",
        promised_items=[UTRECHT, ROTTERDAM], config=RULES_ONLY,
    )
    (finding,) = result.findings
    assert finding.category == "closed_location"
    assert finding.item == ROTTERDAM


def test_a_finding_names_the_only_item_of_its_kind_mentioned() -> None:
    result = analyze_comment(
        "Tried WEEKEND20 at the desk. The code was not accepted.", language="en",
        promised_items=[UTRECHT, CODE], config=RULES_ONLY,
    )
    assert [(f.category, f.item) for f in result.findings] == [("offer_not_honoured", CODE)]


def test_model_findings_carry_a_span_and_their_source() -> None:
    result = analyze_comment("van die gratis dag hebben we echt helemaal nooit iets teruggezien op de factuur",
                             score=2, language="nl")
    for finding in result.findings:
        start, end = finding.span
        assert 0 <= start < end <= len(result.text)
        assert finding.source in ("rule", "model")


FREE_DAY = PromisedItem(kind="offer", label="Gratis huurdag", aliases=("gratis dag", "free day"))


def test_sarcasm_about_a_promised_offer_is_a_broken_offer() -> None:
    result = analyze_comment("gratis dag 😂😂 goeie grap", language="nl", promised_items=[FREE_DAY], config=RULES_ONLY)
    assert [(f.category, f.item) for f in result.findings] == [("offer_not_honoured", FREE_DAY)]


def test_sarcasm_gives_way_to_a_concrete_failure() -> None:
    result = analyze_comment("gratis dag, ja ja. De vestiging was gewoon dicht", language="nl",
                             promised_items=[FREE_DAY], config=RULES_ONLY)
    assert result.categories == ("closed_location",)


def test_an_offer_named_by_its_code_is_context_for_offer_rules() -> None:
    code = PromisedItem(kind="offer", label="GRATISVERZENDING", aliases=("verzendcode",))
    result = analyze_comment("GRATISVERZENDING werkte niet bij mijn eerste bestelling", language="nl",
                             promised_items=[code], config=RULES_ONLY)
    assert [(f.category, f.item) for f in result.findings] == [("offer_not_honoured", code)]


def test_an_eye_roll_at_a_promised_offer_counts_as_sarcasm() -> None:
    result = analyze_comment("Gratis dag 🙄", language="nl", promised_items=[FREE_DAY], config=RULES_ONLY)
    assert result.categories == ("offer_not_honoured",)
    assert not analyze_comment("Gratis dag 👍", language="nl", promised_items=[FREE_DAY], config=RULES_ONLY).findings


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Rotterdam CS was dicht toen ik kwam, maar ik was er zelf te vroeg", "nl"),
        ("Leiden club was closed the first morning, turns out they open at 7 not 6, my bad", "en"),
    ],
)
def test_a_closure_that_was_the_customers_own_mistake_is_not_flagged(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, config=RULES_ONLY)
    assert "closed_location" not in result.categories


def test_an_unannounced_holiday_closure_is_still_flagged() -> None:
    result = analyze_comment("beide vestigingen gesloten op tweede paasdag, niks over gemeld", language="nl",
                             config=RULES_ONLY)
    assert "closed_location" in result.categories


SHIPPING = PromisedItem(kind="offer", label="Gratis verzending", aliases=("free shipping",))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ik kreeg een tegoedbon in plaats van gratis verzending", "nl"),
        ("instead of free shipping they gave me a voucher for next time", "en"),
    ],
)
def test_an_offer_given_in_another_form_is_other(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, promised_items=[SHIPPING], config=RULES_ONLY)
    assert "other" in result.categories


def test_a_voucher_that_did_not_work_is_not_other() -> None:
    result = analyze_comment("de tegoedbon voor gratis verzending werkte niet", language="nl",
                             promised_items=[SHIPPING], config=RULES_ONLY)
    assert "other" not in result.categories


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("the mail says free delivery on everything, the terms on the site say orders over 50 only", "en"),
        ("in de mail stond tot en met zondag, op de site staat zaterdag in de voorwaarden", "nl"),
    ],
)
def test_a_mail_and_a_site_that_disagree_are_wrong_information(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, config=RULES_ONLY)
    assert "wrong_information" in result.categories


def test_a_link_from_the_mail_to_the_site_is_no_disagreement() -> None:
    result = analyze_comment("clicked the link in the mail, the site opened and the code worked", language="en",
                             config=RULES_ONLY)
    assert "wrong_information" not in result.categories


NEXT_DAY = PromisedItem(kind="offer", label="Free next-day delivery", aliases=("next-day delivery",))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("the parcel came two days late", "en"),
        ("het pakket kwam drie dagen later", "nl"),
    ],
)
def test_a_late_delivery_breaks_a_next_day_promise_as_other(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, promised_items=[NEXT_DAY], config=RULES_ONLY)
    assert "other" in result.categories


def test_a_late_delivery_without_a_next_day_promise_is_no_finding() -> None:
    result = analyze_comment("the parcel came two days late", language="en", promised_items=[SHIPPING],
                             config=RULES_ONLY)
    assert "other" not in result.categories


@pytest.mark.parametrize(
    ("text", "language", "category"),
    [
        ("alles was al verhuurd toen we kwamen", "nl", "out_of_stock"),
        ("air fryer: 'niet op voorraad' since monday", "en", "out_of_stock"),
        ("the QR code in the email didn't scan", "en", "link_or_site_broken"),
        ("the link redirects to the homepage", "en", "link_or_site_broken"),
        ("de betaling op de site mislukt steeds", "nl", "link_or_site_broken"),
    ],
)
def test_more_wordings_of_stock_and_site_failures(text: str, language: str, category: str) -> None:
    assert category in analyze_comment(text, language=language, config=RULES_ONLY).categories


def test_a_rental_that_was_not_all_booked_is_no_stock_out() -> None:
    result = analyze_comment("de auto was netjes verhuurd en op tijd klaar", language="nl", config=RULES_ONLY)
    assert "out_of_stock" not in result.categories


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("geen kapotte link, geen foutmelding, gewoon besteld", "nl"),
        ("no broken links, no errors, smooth checkout", "en"),
        ("ik loop de deur plat bij de sportschool", "nl"),  # idiom: "plat" is no outage here
    ],
)
def test_a_site_failure_that_did_not_happen_is_not_flagged(text: str, language: str) -> None:
    assert "link_or_site_broken" not in analyze_comment(text, language=language, config=RULES_ONLY).categories


PROMISED_PRICE = PromisedItem(kind="price", label="129 euro", aliases=("€129",), promised_value="129.00")


def test_two_prices_after_labels_with_colons_are_a_price_mismatch() -> None:
    result = analyze_comment("advertentie: 129 euro. kassabon: 139 euro", language="nl", config=RULES_ONLY)
    assert "price_mismatch" in result.categories


def test_one_price_near_the_promised_price_is_a_price_mismatch() -> None:
    result = analyze_comment("they were 149 on the site the day the email came out", language="en",
                             promised_items=[PROMISED_PRICE], config=RULES_ONLY)
    assert "price_mismatch" in result.categories


def test_an_unrelated_small_price_is_no_price_mismatch() -> None:
    result = analyze_comment("the price was fine but they charged 2 euro for a bag at the till", language="en",
                             promised_items=[PROMISED_PRICE], config=RULES_ONLY)
    assert "price_mismatch" not in result.categories


def test_a_promised_callback_that_never_came_is_other() -> None:
    result = analyze_comment("they promised to call me back within the hour. nobody ever did", language="en",
                             config=RULES_ONLY)
    assert result.categories == ("other",)


def test_the_combiner_refuses_weights_trained_for_other_inputs() -> None:
    from survey_app.analysis.detector import combiner_from_dict
    from survey_app.analysis.errors import DataFileError

    with pytest.raises(DataFileError):
        combiner_from_dict({"features": ["rule:closed_location"], "labels": ["broken_promise"],
                            "weights": [[1.0]], "intercepts": [0.0], "thresholds": [0.5]})


def test_with_the_model_a_detractor_is_believed_sooner_than_a_promoter() -> None:
    text = "de gratis dag stond er wel op maar ik moest toch alles betalen"
    detractor = analyze_comment(text, score=1, language="nl", promised_items=[FREE_DAY])
    promoter = analyze_comment(text, score=10, language="nl", promised_items=[FREE_DAY])
    assert detractor.broken_promise
    assert max((f.confidence for f in promoter.findings), default=0.0) < max(f.confidence for f in detractor.findings)


def test_without_a_combiner_the_fixed_thresholds_still_decide() -> None:
    result = analyze_comment("De kortingscode werkte niet", score=3, language="nl",
                             config=DetectorConfig(use_combiner=False))
    assert result.categories == ("offer_not_honoured",)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # Dutch verb-second: "deed" stands before "niet" and is not negated, the particle is.
        ("Bij ons filiaal deed de koffie van het huismerk natuurlijk niet mee", "nl"),
        ("de grote pakken deden volgens de caissière niet mee", "nl"),
        # The same rule covers the other word orders.
        ("die producten doen niet mee aan de actie", "nl"),
        ("omdat de airfryer niet mee doet", "nl"),
    ],
)
def test_a_product_that_did_not_take_part_is_a_refused_offer(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, config=RULES_ONLY)
    assert "offer_not_honoured" in result.categories


AIRFRYER = [
    PromisedItem(kind="product", label="Philips Airfryer XL", aliases=("airfryer",)),
    PromisedItem(kind="price", label="89 euro", aliases=("€89", "89,-", "EUR 89"), promised_value="89.00"),
]
GYM = [PromisedItem(kind="offer", label="First month free", aliases=("free month", "gratis maand"))]


@pytest.mark.parametrize(
    ("text", "language", "items"),
    [
        ("aan de kassa bleek je voor die 89 euro een klantenkaart nodig te hebben, zonder kaart 119", "nl", AIRFRYER),
        ("the 89 euro at the till was only with a loyalty card, otherwise 119", "en", AIRFRYER),
        ("they asked me to sign a 12 month contract first before the free month would start", "en", GYM),
        ("voor de gratis maand moest ik eerst een jaarcontract tekenen", "nl", GYM),
    ],
)
def test_an_unstated_condition_on_the_offer_is_a_refused_offer(
    text: str, language: str, items: list[PromisedItem]
) -> None:
    result = analyze_comment(text, language=language, promised_items=items, config=RULES_ONLY)
    assert "offer_not_honoured" in result.categories
    # The two prices are the condition's, not a price mismatch.
    assert "price_mismatch" not in result.categories


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("the free month really was free, no contract needed and no strings", "en"),
        ("gratis maand gekregen zonder contract of gedoe", "nl"),
    ],
)
def test_an_offer_without_conditions_is_not_refused(text: str, language: str) -> None:
    result = analyze_comment(text, language=language, promised_items=GYM, config=RULES_ONLY)
    assert "offer_not_honoured" not in result.categories
