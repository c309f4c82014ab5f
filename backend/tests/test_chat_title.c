/* Conversation titles from the first user message. */

#include "unit.h"

#include <string.h>

#include "chat/mcp_chat_title.h"


static char  buf[MCP_CHAT_TITLE_MAX + 4];

static const char *
title(const char *s)
{
    return mcp_chat_title(s, strlen(s), buf);
}

static void
test_short_text_is_its_own_title(void)
{
    CHECK_EQ_STR(title("What is 2+3?"), "What is 2+3?");
}

static void
test_first_non_blank_line_with_space_folded(void)
{
    CHECK_EQ_STR(title("\n  \n\t Plan   a\ttrip \nto Rome"), "Plan a trip");
}

static void
test_blank_text_has_no_title(void)
{
    CHECK(title("") == NULL);
    CHECK(title(" \n\t\r\n ") == NULL);
    CHECK(mcp_chat_title(NULL, 0, buf) == NULL);
}

static void
test_long_text_is_cut_at_a_word(void)
{
    const char  *t = title("Summarise the following article about the history "
                           "of the printing press in Europe please");

    CHECK_EQ_STR(t, "Summarise the following article about the history of "
                    "the\xe2\x80\xa6");
    CHECK(strlen(t) <= MCP_CHAT_TITLE_MAX + 3);
}

static void
test_cut_between_words_keeps_the_last_word(void)
{
    /* exactly 60 bytes then a space and more */
    char  in[128];

    memset(in, 'a', 60);
    strcpy(in + 60, " tail");
    title(in);
    CHECK_EQ_INT(strlen(buf), 63);
    CHECK(memcmp(buf, in, 60) == 0);
    CHECK(strcmp(buf + 60, "\xe2\x80\xa6") == 0);
}

static void
test_cut_never_splits_a_utf8_character(void)
{
    char    in[256];
    size_t  i, n;

    /* 59 ASCII bytes then two-byte characters: the cut falls inside one */
    memset(in, 'x', 59);
    in[59] = '\0';
    for (i = 0; i < 10; i++) {
        strcat(in, "\xc3\xa9");
    }
    title(in);
    n = strlen(buf);
    CHECK_EQ_INT(n, 59 + 3);
    CHECK(strcmp(buf + 59, "\xe2\x80\xa6") == 0);

    /* only four-byte characters */
    in[0] = '\0';
    for (i = 0; i < 20; i++) {
        strcat(in, "\xf0\x9f\x98\x80");
    }
    title(in);
    n = strlen(buf);
    CHECK_EQ_INT(n, 60 + 3);
    CHECK(memcmp(buf, in, 60) == 0);
}

static void
test_embedded_nul_ends_the_title(void)
{
    CHECK_EQ_STR(mcp_chat_title("ab\0cd", 5, buf), "ab");
}

UNIT_MAIN("chat_title",
          UNIT_TEST(test_short_text_is_its_own_title),
          UNIT_TEST(test_first_non_blank_line_with_space_folded),
          UNIT_TEST(test_blank_text_has_no_title),
          UNIT_TEST(test_long_text_is_cut_at_a_word),
          UNIT_TEST(test_cut_between_words_keeps_the_last_word),
          UNIT_TEST(test_cut_never_splits_a_utf8_character),
          UNIT_TEST(test_embedded_nul_ends_the_title))
