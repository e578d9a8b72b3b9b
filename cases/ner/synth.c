/* Synthetic NER corpus. See synth.h.
 *
 * A template is a string of space-separated tokens: literals are O tokens, %X are
 * slots filled from the lists below. A leading '!' marks a template that is a whole
 * line (a result, a dateline): it is never joined with another clause or extended;
 * "!^" also puts the whole line in capitals (a headline). */
#include "ner/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- name lists (ambiguous words appear in several) ---- */
static const char *const first_names[] = {
    "Peter", "John", "Maria", "Anna", "Michael", "Thomas", "David", "Carlos", "Yasser",
    "Boris", "Helmut", "Jacques", "Bill", "Hillary", "Nelson", "Sergei", "Kofi", "Jordan",
    "Chelsea", "Florence", "Pete", "Martina", "Steffi", "Damon", "Ruud", "Alan", "Ian",
    "Monica", "Juan", "Yuri", "Benjamin", "Jean-Marie", "Wasim", "Sachin", "Gianfranco",
};
static const char *const last_names[] = {
    "Blackburn", "Smith", "Kohl", "Yeltsin", "Clinton", "Arafat", "Chirac", "Mandela",
    "Annan", "Netanyahu", "Washington", "Jordan", "Lewis", "Hughes", "Rossi", "Schmidt",
    "Mueller", "Ivanov", "Tanaka", "Dole", "Major", "Hill", "Sampras", "Hingis", "Graf",
    "Gullit", "Shearer", "Seles", "Lebed", "Perez", "Akram", "Tendulkar", "Zola", "de Klerk",
    "Van der Berg",
};
/* famous full names, kept whole */
static const char *const full_names[] = {
    "Michael Jordan", "Denzel Washington", "Chelsea Clinton", "Jean-Marie Le Pen",
    "Florence Griffith Joyner", "Boris Yeltsin", "Kofi Annan", "George Washington",
    "Jacques Villeneuve", "Michael Schumacher", "Eddie Irvine", "Rubens Barrichello",
};
static const char *const orgs[] = {
    "European Commission", "EU", "Reuters", "Bundesbank", "Siemens", "Deutsche Bank",
    "General Motors", "Ford", "Microsoft", "Commerzbank", "U.N.", "NATO",
    "U.N. Security Council", "Washington Post", "New York Times", "Interfax",
    "Bank of England", "Federal Reserve", "Labour Party", "Hamas", "OPEC", "World Bank",
    "International Monetary Fund", "Tokyo Stock Exchange", "Apple Computer", "European Union",
    "Lufthansa", "Fiat", "Moody 's", "Itar-Tass", "Red Cross", "Sony",
};
static const char *const teams[] = {
    "Chelsea", "Arsenal", "Manchester United", "Liverpool", "Bayern Munich", "Ajax",
    "Juventus", "Real Madrid", "Barcelona", "Washington", "Dallas", "New York Yankees",
    "Boston Red Sox", "Chicago Bulls", "Newcastle", "PSV Eindhoven", "Inter Milan", "Leeds",
};
static const char *const f1_teams[] = {"Williams", "Ferrari", "Benetton", "Jordan", "McLaren",
                                       "Ligier"};
static const char *const cities[] = {
    "London", "Paris", "Brussels", "Bonn", "Berlin", "Moscow", "Washington", "New York",
    "Tokyo", "Jerusalem", "Amman", "Beijing", "Sydney", "Florence", "Liverpool", "Barcelona",
    "Dallas", "Los Angeles", "Rio de Janeiro", "Hong Kong", "Frankfurt", "Madrid", "Gaza",
    "Sarajevo", "Grozny", "Johannesburg",
};
static const char *const countries[] = {
    "Germany", "Britain", "France", "Jordan", "Israel", "Russia", "China", "Turkey", "Japan",
    "United States", "U.S.", "South Africa", "Bosnia", "Iraq", "Italy", "Spain", "Brazil",
    "Australia", "Chile", "Pakistan", "India", "Netherlands",
};
static const char *const us_cities[] = {"Portland", "Billings", "Dallas", "Washington", "Boise",
                                        "Spokane", "Denver", "Salem"};
static const char *const us_states[] = {"OR", "MT", "TX", "WA", "ID", "CO", "CA"};
static const char *const nationalities[] = {
    "German", "British", "French", "Jordanian", "Israeli", "Russian", "Chinese", "Turkish",
    "Japanese", "American", "Italian", "Dutch", "Palestinian", "European", "Brazilian",
    "Belgian", "Australian", "Pakistani",
};
static const char *const events[] = {
    "World Cup", "Tour de France", "Olympic Games", "U.S. Open", "Wimbledon", "Euro 96",
    "Davis Cup", "Super Bowl", "Nobel Prize", "European Championship", "UEFA Cup",
};
static const char *const days[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                   "Saturday", "Sunday"};
static const char *const months[] = {"January", "February", "March", "April", "May", "June",
                                     "July", "August", "September", "October", "November",
                                     "December"};
static const char *const nouns[] = {
    "turkey", "china", "bush", "oil", "wheat", "beef", "coffee", "apple", "steel", "gold",
    "cotton", "sugar", "bond", "tax", "budget", "trade", "peace", "refugee", "drug", "arms",
};
static const char *const verbs[] = {"cut", "raise", "sell", "review", "expand", "close",
                                    "double", "freeze"};
static const char *const adjs[] = {"quiet", "firm", "weak", "constructive", "useful",
                                   "difficult", "positive", "tense"};

static const char *const templates[] = {
    "%P said on %D that %O would %v its %c exports .",
    "%O , the %B company , said its %c sales rose %p percent in %M .",
    "!%T %s %T %s",
    "%P visited %L on %D .",
    "!%A , %K %d",
    "!^SOCCER - %T BEAT %T %r .",
    "!%P ( %K ) beat %P ( %K ) %r %r",
    "%P , who plays for %T , scored twice in the %E final .",
    "The %N government said on %D it would hold talks with %O on %c .",
    "Shares in %O rose %n cents to %m in %C trading .",
    "In %K , %n people were killed when a bus crashed near %C , police said .",
    "Prices of %c and %c rose %p percent in %M , the %O said .",
    "%P and %P met in %C to discuss the %c crisis .",
    "\" We are very happy with the result , \" %P told %O .",
    "%P , %Q , of %C , was charged with %c smuggling .",
    "%N %E fans celebrated in %C on %D .",
    "%F driver %P won the %N Grand-Prix on %D .",
    "%P , the %N foreign minister , arrived in %C on %D for talks with %P .",
    "%O said it had agreed to buy %O for %m million %N marks .",
    "!Weather : %U %S %n degrees , %U %S %n degrees .",
    "%P 's lawyer told %O that his client would appeal .",
    "%T coach %P said his side would beat %T on %D .",
    "%P scored for %T after %n minutes .",
    "%K 's %O said on %D that inflation would fall to %p percent .",
    "%O spokesman %P said the talks in %C had been %a .",
    "Police in %C arrested %n %N nationals on %D .",
    "%N troops crossed into %K from %K overnight , the %O said .",
    "%P will fly to %L next week , officials in %C said .",
    "!Results of the %E : 1. %P ( %K ) %n points 2. %P ( %K ) %n 3. %P ( %K ) %n",
    "%P told reporters in %C that %P had met %P in %L on %D .",
    "The %c market in %K was %a on %D as %N investors waited for %O figures .",
    "%T beat %T %r in the %E on %D .",
    "President %P of %K said %c prices would %v in %y .",
    "%A %d - %O said on %D it would %v %c production .",
    "The %c harvest in %L was %a this year , the %N ministry said .",
    "%P ( %F ) took pole position for the %N Grand-Prix .",
};

static const char *const tails[] = {
    ", %P said .", ", according to %O .", ", the %O reported .", ", officials in %C said .",
    ", a %N diplomat said .",
};
static const char *const joiners[] = {", and", ", while", ", but", ";"};

/* ---- random numbers ---- */
static int below(uint64_t *rng, int n)
{
    return (int)(ner_splitmix64(rng) % (uint64_t)n); /* bias is irrelevant here */
}
#define PICK(rng, a) ((a)[below(rng, N(a))])

/* ---- sentence builder ---- */
#define SB_MAXT 128
typedef struct sb {
    int n, overflow;
    const char *tok[SB_MAXT];
    int32_t tag[SB_MAXT];
    size_t used;
    char pool[8192];
} sb;

static const char *sb_copy(sb *b, const char *s, size_t n)
{
    if (b->used + n + 1 > sizeof b->pool) {
        b->overflow = 1;
        return NULL;
    }
    char *p = b->pool + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

static void sb_add(sb *b, const char *tok, size_t n, int32_t tag)
{
    const char *p = sb_copy(b, tok, n);
    if (!p || b->n == SB_MAXT) {
        b->overflow = 1;
        return;
    }
    b->tok[b->n] = p;
    b->tag[b->n] = tag;
    b->n++;
}

/* Adds the space-separated words of s; type 0 = O, else an entity of that type. */
static void sb_words(sb *b, const char *s, int type)
{
    int first = 1;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        int32_t tag = type == 0 ? NER_TAG_O : (int32_t)(2 * type + (first ? 0 : 1));
        sb_add(b, s, (size_t)(e - s), tag);
        first = 0;
        s = e;
    }
}

static void sb_fmt_entity(sb *b, int type, const char *fmt, const char *a)
{
    char buf[128];
    snprintf(buf, sizeof buf, fmt, a);
    sb_words(b, buf, type);
}

static void sb_num(sb *b, const char *fmt, int x, int y)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, x, y);
    sb_words(b, buf, 0);
}

static void person(sb *b, uint64_t *rng)
{
    int r = below(rng, 100);
    if (r < 15)
        sb_words(b, PICK(rng, full_names), NER_TYPE_PER);
    else if (r < 60) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s %s", PICK(rng, first_names), PICK(rng, last_names));
        sb_words(b, buf, NER_TYPE_PER);
    } else
        sb_words(b, PICK(rng, last_names), NER_TYPE_PER);
}

static void expand(sb *b, uint64_t *rng, const char *tpl, int lower_first)
{
    while (*tpl == '!' || *tpl == '^')
        tpl++;
    int at_start = 1;
    while (*tpl) {
        while (*tpl == ' ')
            tpl++;
        if (!*tpl)
            break;
        const char *e = tpl;
        while (*e && *e != ' ')
            e++;
        size_t n = (size_t)(e - tpl);
        if (tpl[0] == '%' && n == 2) {
            switch (tpl[1]) {
            case 'P': person(b, rng); break;
            case 'O': sb_words(b, PICK(rng, orgs), NER_TYPE_ORG); break;
            case 'T': sb_words(b, PICK(rng, teams), NER_TYPE_ORG); break;
            case 'F': sb_words(b, PICK(rng, f1_teams), NER_TYPE_ORG); break;
            case 'C': sb_words(b, PICK(rng, cities), NER_TYPE_LOC); break;
            case 'K': sb_words(b, PICK(rng, countries), NER_TYPE_LOC); break;
            case 'L':
                sb_words(b, below(rng, 2) ? PICK(rng, cities) : PICK(rng, countries),
                         NER_TYPE_LOC);
                break;
            case 'A': { /* dateline city in capitals */
                char buf[64];
                const char *c = PICK(rng, cities);
                size_t k = 0;
                for (; c[k] && k + 1 < sizeof buf; k++)
                    buf[k] = (c[k] >= 'a' && c[k] <= 'z') ? (char)(c[k] - 32) : c[k];
                buf[k] = '\0';
                sb_words(b, buf, NER_TYPE_LOC);
                break;
            }
            case 'B': sb_fmt_entity(b, NER_TYPE_MISC, "%s-based", PICK(rng, cities)); break;
            case 'U': sb_words(b, PICK(rng, us_cities), NER_TYPE_LOC); break;
            case 'S': sb_words(b, PICK(rng, us_states), NER_TYPE_LOC); break;
            case 'N': sb_words(b, PICK(rng, nationalities), NER_TYPE_MISC); break;
            case 'E': sb_words(b, PICK(rng, events), NER_TYPE_MISC); break;
            case 'D': sb_words(b, PICK(rng, days), 0); break;
            case 'M': sb_words(b, PICK(rng, months), 0); break;
            case 'c': sb_words(b, PICK(rng, nouns), 0); break;
            case 'v': sb_words(b, PICK(rng, verbs), 0); break;
            case 'a': sb_words(b, PICK(rng, adjs), 0); break;
            case 'n': sb_num(b, "%d", 1 + below(rng, below(rng, 4) ? 99 : 999), 0); break;
            case 's': sb_num(b, "%d", below(rng, 6), 0); break;
            case 'r': sb_num(b, "%d-%d", below(rng, 7), below(rng, 7)); break;
            case 'p': sb_num(b, "%d.%d", below(rng, 15), below(rng, 10)); break;
            case 'm': sb_num(b, "%d.%02d", 1 + below(rng, 150), below(rng, 100)); break;
            case 'Q': sb_num(b, "%d", 18 + below(rng, 60), 0); break;
            case 'y': sb_num(b, "%d", 1996 + below(rng, 4), 0); break;
            case 'd': sb_num(b, "1996-%02d-%02d", 1 + below(rng, 12), 1 + below(rng, 28)); break;
            default: sb_add(b, tpl, n, NER_TAG_O); break;
            }
        } else if (strncmp(tpl, "Grand-Prix", n) == 0 && n == 10) {
            /* "Belgian Grand Prix": nationality and event as adjacent MISC entities */
            sb_words(b, "Grand Prix", NER_TYPE_MISC);
        } else {
            int32_t tag = NER_TAG_O;
            if (at_start && lower_first && tpl[0] >= 'A' && tpl[0] <= 'Z') {
                char buf[64];
                size_t k = n < sizeof buf ? n : sizeof buf - 1;
                memcpy(buf, tpl, k);
                buf[0] = (char)(buf[0] + 32);
                sb_add(b, buf, k, tag);
            } else
                sb_add(b, tpl, n, tag);
        }
        at_start = 0;
        tpl = e;
    }
}

static void strip_period(sb *b)
{
    if (b->n > 0 && strcmp(b->tok[b->n - 1], ".") == 0)
        b->n--;
}

static void gen_sentence(sb *b, uint64_t *rng)
{
    for (;;) {
        b->n = 0;
        b->used = 0;
        b->overflow = 0;
        const char *tpl = PICK(rng, templates);
        expand(b, rng, tpl, 0);
        if (tpl[0] != '!') {
            int r = below(rng, 100);
            if (r < 20) { /* two clauses */
                const char *t2;
                do
                    t2 = PICK(rng, templates);
                while (t2[0] == '!');
                strip_period(b);
                sb_words(b, PICK(rng, joiners), 0);
                expand(b, rng, t2, 1);
            } else if (r < 40) { /* attribution */
                strip_period(b);
                expand(b, rng, PICK(rng, tails), 0);
            }
        }
        if (b->overflow || b->n < NER_SYNTH_MIN_LEN || b->n > NER_SYNTH_MAX_LEN)
            continue;
        if (strncmp(tpl, "!^", 2) == 0 || below(rng, 100) < 4) { /* headline in capitals */
            for (int i = 0; i < b->n; i++) {
                size_t k = strlen(b->tok[i]);
                const char *src = b->tok[i];
                char *p = (char *)sb_copy(b, src, k);
                if (!p)
                    break;
                for (size_t j = 0; j < k; j++)
                    if (p[j] >= 'a' && p[j] <= 'z')
                        p[j] = (char)(p[j] - 32);
                b->tok[i] = p;
            }
        }
        return;
    }
}

int ner_synth_generate(ner_corpus *out, int n_sentences, uint64_t seed)
{
    if (!out)
        return -1;
    ner_corpus_init(out);
    if (n_sentences < 0)
        return -1;
    uint64_t rng = seed ^ 0x6E65722D73796E74ULL; /* "ner-synt" */
    sb *pb = malloc(sizeof *pb); /* 9 KB: off the stack */
    if (!pb)
        return -1;
    for (int s = 0; s < n_sentences; s++) {
        gen_sentence(pb, &rng);
        if (ner_corpus_add_sentence(out, pb->tok, pb->tag, pb->n)) {
            free(pb);
            ner_corpus_free(out);
            return -1;
        }
    }
    free(pb);
    out->scheme = NER_SCHEME_IOB2;
    return 0;
}
