/*
 * check_cloud_parse.c - the pure parsers and codecs of cloud/: the S3 XML
 * reader (list and error documents, malformed and hostile input, random
 * garbage), the credentials file and environment, and the percent-encoding
 * of names.
 */
#include "config.h"

#include "cloud/creds.h"
#include "cloud/s3_xml.h"
#include "cloud/target.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct seen {
	char names[32][512];
	bool prefix[32];
	int n;
};

static int collect(void *arg, const char *name, size_t len, bool is_prefix)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 32);
	ck_assert_uint_eq(strlen(name), len);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->prefix[s->n++] = is_prefix;
	return 0;
}

static int list(const char *xml, struct seen *s, bool *trunc, char **token)
{
	memset(s, 0, sizeof(*s));
	*token = NULL;
	return s3_xml_parse_list(xml, strlen(xml), collect, s, trunc, token);
}

START_TEST(test_xml_list_reads_keys_prefixes_and_token)
{
	struct seen s;
	bool trunc = false;
	char *token;
	const char *xml =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<!-- a comment <Contents> -->\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
		"  <Name>b</Name><Prefix></Prefix>\n"
		"  <Contents>\n    <Key>a&amp;b&lt;&gt;&quot;&apos;</Key>\n"
		"    <LastModified>2026-01-01T00:00:00.000Z</LastModified>\n"
		"    <Owner><ID>x</ID></Owner><Size>5</Size>\n  </Contents>\n"
		"  <Contents><Key>&#65;&#x42;&#xE9;&#x1F600;</Key></Contents>\n"
		"  <Contents><Key><![CDATA[c<d>&e]]></Key></Contents>\n"
		"  <CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>\n"
		"  <Contents><Key/></Contents>\n"
		"  <IsTruncated>true</IsTruncated>\n"
		"  <NextContinuationToken>tok+/=</NextContinuationToken>\n"
		"</ListBucketResult>\n";

	ck_assert_int_eq(list(xml, &s, &trunc, &token), 0);
	ck_assert_int_eq(s.n, 5);
	ck_assert_str_eq(s.names[0], "a&b<>\"'");
	ck_assert_str_eq(s.names[1], "AB\xc3\xa9\xf0\x9f\x98\x80");
	ck_assert_str_eq(s.names[2], "c<d>&e");
	ck_assert_str_eq(s.names[3], "p/");
	ck_assert(s.prefix[3] && !s.prefix[0]);
	ck_assert_str_eq(s.names[4], "");
	ck_assert(trunc);
	ck_assert_str_eq(token, "tok+/=");
	free(token);
}
END_TEST

START_TEST(test_xml_list_last_page_has_no_token)
{
	struct seen s;
	bool trunc = true;
	char *token;

	ck_assert_int_eq(list("<ListBucketResult><IsTruncated>false"
			      "</IsTruncated></ListBucketResult>",
			      &s, &trunc, &token),
			 0);
	ck_assert(!trunc);
	ck_assert_ptr_null(token);
	ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(test_xml_malformed_or_hostile_input_is_refused)
{
	const char *bad[] = {
		"",
		"   ",
		"<",
		"<ListBucketResult>",
		"<ListBucketResult></ListBucketResul>",
		"<ListBucketResult></ListBucketResult><ListBucketResult/>",
		"<ListBucketResult><a></b></ListBucketResult>",
		"text<ListBucketResult/>",
		"<ListBucketResult/>trailing",
		"<Error/>",
		"<!DOCTYPE x [<!ENTITY e \"boom\">]><ListBucketResult/>",
		"<ListBucketResult>&e;</ListBucketResult>",
		"<ListBucketResult>&#0;</ListBucketResult>",
		"<ListBucketResult>&#xD800;</ListBucketResult>",
		"<ListBucketResult>&#x110000;</ListBucketResult>",
		"<ListBucketResult>&#99999999999;</ListBucketResult>",
		"<ListBucketResult>&amp</ListBucketResult>",
		"<ListBucketResult><![CDATA[x</ListBucketResult>",
		"<ListBucketResult><!-- x </ListBucketResult>",
		"<?xml <ListBucketResult/>",
		"<ListBucketResult a=\"1></ListBucketResult>",
		"<ListBucketResult a=1></ListBucketResult>",
		"<ListBucketResult><Contents></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>yes</IsTruncated>"
		"</ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#0;b</Key></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult>< a/></ListBucketResult>",
		/* a token that cannot be sent back (issue 12) */
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken></NextContinuationToken>"
		"</ListBucketResult>",
		"<ListBucketResult><NextContinuationToken/>"
		"</ListBucketResult>",
	};
	struct seen s;
	bool trunc;
	char *token;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(list(bad[i], &s, &trunc, &token) == -EBADMSG,
			      "accepted: %s", bad[i]);
}
END_TEST

START_TEST(test_xml_depth_and_sizes_are_bounded)
{
	char *deep = malloc(64 * 1024), *p = deep;
	char *big = malloc(200 * 1024);
	struct seen s;
	bool trunc;
	char *token;

	p += sprintf(p, "<ListBucketResult>");
	for (int i = 0; i < 40; i++)
		p += sprintf(p, "<a>");
	for (int i = 0; i < 40; i++)
		p += sprintf(p, "</a>");
	sprintf(p, "</ListBucketResult>");
	ck_assert_int_eq(list(deep, &s, &trunc, &token), -EBADMSG);

	strcpy(big, "<ListBucketResult><Contents><Key>");
	memset(big + strlen(big), 'k', 100 * 1024);
	strcpy(big + 33 + 100 * 1024, "</Key></Contents></ListBucketResult>");
	ck_assert_int_eq(list(big, &s, &trunc, &token), -EBADMSG);

	sprintf(big, "<ListBucketResult><%0100d/></ListBucketResult>", 0);
	ck_assert_int_eq(list(big, &s, &trunc, &token), -EBADMSG);
	free(deep);
	free(big);
}
END_TEST

START_TEST(test_xml_error_code_is_read)
{
	char code[16];
	const char *doc = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
			  "<Message>Please reduce</Message><RequestId>1"
			  "</RequestId></Error>";

	ck_assert_int_eq(
		s3_xml_parse_error(doc, strlen(doc), code, sizeof(code)), 0);
	ck_assert_str_eq(code, "SlowDown");
	doc = "<Error><Code>AVeryLongErrorCodeIndeed</Code></Error>";
	ck_assert_int_eq(
		s3_xml_parse_error(doc, strlen(doc), code, sizeof(code)), 0);
	ck_assert_str_eq(code, "AVeryLongErrorC");
	doc = "<ListBucketResult/>";
	ck_assert_int_eq(s3_xml_parse_error(doc, strlen(doc), code,
					    sizeof(code)),
			 -ENOENT);
	ck_assert_str_eq(code, "");
	doc = "<html>502 Bad Gateway</html>";
	ck_assert_int_eq(s3_xml_parse_error(doc, strlen(doc), code,
					    sizeof(code)),
			 -ENOENT);
	doc = "<Error><Code>Trunc";
	ck_assert_int_eq(s3_xml_parse_error(doc, strlen(doc), code,
					    sizeof(code)),
			 -ENOENT);
}
END_TEST

static int stop_at_second(void *arg, const char *name, size_t len,
			  bool is_prefix)
{
	int *n = arg;

	return ++*n == 2 ? 77 : 0;
}

START_TEST(test_xml_callback_can_stop_the_parse)
{
	const char *xml = "<ListBucketResult><Contents><Key>a</Key></Contents>"
			  "<Contents><Key>b</Key></Contents><Contents><Key>c"
			  "</Key></Contents></ListBucketResult>";
	bool trunc;
	char *token = NULL;
	int n = 0;

	ck_assert_int_eq(s3_xml_parse_list(xml, strlen(xml), stop_at_second, &n,
					   &trunc, &token),
			 77);
	ck_assert_int_eq(n, 2);
	ck_assert_ptr_null(token);
}
END_TEST

static int ignore(void *arg, const char *name, size_t len, bool is_prefix)
{
	return 0;
}

START_TEST(test_xml_random_input_never_crashes)
{
	static const char *pieces[] = {
		"<",
		">",
		"</",
		"/>",
		"<ListBucketResult>",
		"</ListBucketResult>",
		"<Contents>",
		"</Contents>",
		"<Key>",
		"</Key>",
		"&amp;",
		"&#x41;",
		"&",
		";",
		"<![CDATA[",
		"]]>",
		"<!--",
		"-->",
		"<?",
		"?>",
		"a",
		" ",
		"\"",
		"=",
		"<IsTruncated>true</IsTruncated>",
		"<NextContinuationToken>t</NextContinuationToken>",
	};
	unsigned seed = 99;
	int rounds = getenv("CARAVAN_VALGRIND") ? 3000 : 30000;
	char buf[512];

	for (int r = 0; r < rounds; r++) {
		size_t len = 0;
		int n = rand_r(&seed) % 24;
		bool trunc;
		char *token = NULL;
		char *copy;
		int rc;

		for (int i = 0; i < n; i++) {
			const char *p =
				pieces[rand_r(&seed) % (int)(sizeof(pieces) /
							     sizeof(pieces[0]))];
			size_t pl = strlen(p);

			if (len + pl >= sizeof(buf))
				break;
			memcpy(buf + len, p, pl);
			len += pl;
		}
		if (r % 3 == 0 && len)
			buf[rand_r(&seed) % (int)len] = (char)rand_r(&seed);
		/* An exact-size copy so that any overread is caught. */
		copy = malloc(len ? len : 1);
		memcpy(copy, buf, len);
		rc = s3_xml_parse_list(copy, len, ignore, NULL, &trunc, &token);
		ck_assert(rc == 0 || rc == -EBADMSG);
		free(token);
		free(copy);
	}
}
END_TEST

/* ---- credentials ---- */

static const char ini[] = "# comment\n"
			  "[default]\n"
			  "aws_access_key_id = AKIDDEFAULT\n"
			  "aws_secret_access_key=secret/default+key\r\n"
			  "\n"
			  "; another comment\n"
			  "[work]\n"
			  "  aws_access_key_id   =   AKIDWORK  \n"
			  "aws_secret_access_key = s3cr3t\n"
			  "aws_session_token = tok/en==\n"
			  "region = eu-west-1\n"
			  "[profile other]\n"
			  "aws_access_key_id = AKIDOTHER\n"
			  "aws_secret_access_key = other\n"
			  "[partial]\n"
			  "aws_access_key_id = AKIDPARTIAL\n";

START_TEST(test_creds_ini_profiles)
{
	struct cloud_creds c;

	ck_assert_int_eq(cloud_creds_parse_ini(ini, strlen(ini), "default", &c),
			 0);
	ck_assert_str_eq(c.access_key, "AKIDDEFAULT");
	ck_assert_str_eq(c.secret_key, "secret/default+key");
	ck_assert_ptr_null(c.session_token);
	cloud_creds_release(&c);
	ck_assert_int_eq(cloud_creds_parse_ini(ini, strlen(ini), "work", &c),
			 0);
	ck_assert_str_eq(c.access_key, "AKIDWORK");
	ck_assert_str_eq(c.secret_key, "s3cr3t");
	ck_assert_str_eq(c.session_token, "tok/en==");
	cloud_creds_release(&c);
	ck_assert_int_eq(cloud_creds_parse_ini(ini, strlen(ini), "other", &c),
			 0);
	ck_assert_str_eq(c.access_key, "AKIDOTHER");
	cloud_creds_release(&c);
	ck_assert_int_eq(cloud_creds_parse_ini(ini, strlen(ini), "partial", &c),
			 -ENOKEY);
	ck_assert_int_eq(cloud_creds_parse_ini(ini, strlen(ini), "none", &c),
			 -ENOKEY);
	ck_assert_int_eq(cloud_creds_parse_ini("", 0, "default", &c), -ENOKEY);
	ck_assert_int_eq(cloud_creds_parse_ini("[default", 8, "default", &c),
			 -ENOKEY);
}
END_TEST

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/caravan-creds-XXXXXX");
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(test_creds_environment_comes_first_then_the_file)
{
	char *path = write_tmp(ini);
	struct cloud_creds c;

	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	ck_assert_int_eq(cloud_creds_load("work", &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDENV");
	ck_assert_str_eq(c.session_token, "envtoken");
	cloud_creds_release(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	ck_assert_int_eq(cloud_creds_load("work", &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDWORK");
	cloud_creds_release(&c);
	setenv("AWS_PROFILE", "other", 1);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDOTHER");
	cloud_creds_release(&c);
	unsetenv("AWS_PROFILE");
	ck_assert_int_eq(cloud_creds_load(NULL, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDDEFAULT");
	cloud_creds_release(&c);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_creds_missing_are_enokey_and_never_logged)
{
	char *path = write_tmp("[default]\naws_access_key_id = AKIDONLY\n");
	struct cloud_creds c;
	char logpath[] = "/tmp/caravan-creds-log-XXXXXX";
	int fd = mkstemp(logpath), saved;
	char text[4096] = "";
	ssize_t n;

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_PROFILE");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENVONLY", 1);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	close(fd);
	unlink(logpath);
	ck_assert_ptr_nonnull(strstr(text, "no aws credentials for profile "
					   "'default'"));
	ck_assert_ptr_nonnull(strstr(text, "/nonexistent/credentials"));
	ck_assert_ptr_nonnull(strstr(text, "AWS_SECRET_ACCESS_KEY is not"));
	ck_assert_ptr_null(strstr(text, "AKIDONLY"));
	ck_assert_ptr_null(strstr(text, "AKIDENVONLY"));
	unsetenv("AWS_ACCESS_KEY_ID");
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_creds_file_readable_by_others_is_warned_about)
{
	char *path = write_tmp(ini);
	char logpath[] = "/tmp/caravan-creds-log-XXXXXX";
	int fd = mkstemp(logpath), saved, i;
	struct cloud_creds c;
	char text[4096];
	ssize_t n;

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_PROFILE");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	saved = dup(STDERR_FILENO);
	for (i = 0; i < 2; i++) {
		/* 0644 first (warned), then 0600 (quiet) */
		ck_assert_int_eq(chmod(path, i == 0 ? 0644 : 0600), 0);
		ck_assert_int_eq(ftruncate(fd, 0), 0);
		dup2(fd, STDERR_FILENO);
		ck_assert_int_eq(cloud_creds_load(NULL, &c), 0);
		dup2(saved, STDERR_FILENO);
		ck_assert_str_eq(c.access_key, "AKIDDEFAULT");
		cloud_creds_release(&c);
		n = pread(fd, text, sizeof(text) - 1, 0);
		ck_assert_int_ge(n, 0);
		text[n] = '\0';
		if (i == 0) {
			ck_assert_ptr_nonnull(
				strstr(text, "unsafe permissions 0644"));
			ck_assert_ptr_nonnull(strstr(text, path));
		} else {
			ck_assert_str_eq(text, "");
		}
		ck_assert_ptr_null(strstr(text, "secret/default+key"));
	}
	close(saved);
	close(fd);
	unlink(logpath);
	unlink(path);
	free(path);
}
END_TEST

/* ---- names ---- */

START_TEST(test_name_encoding_round_trips_every_byte)
{
	char name[CLOUD_NAME_MAX + 1], enc[CLOUD_ENC_MAX];
	char dec[CLOUD_NAME_MAX + 1];

	/* Every byte value but NUL and '/', in one name. */
	for (int start = 1; start < 256; start += 200) {
		size_t n = 0;

		for (int b = start; b < 256 && n < CLOUD_NAME_MAX; b++)
			if (b != '/')
				name[n++] = (char)b;
		name[n] = '\0';
		ck_assert_int_eq(cloud_name_encode(name, enc), 0);
		for (const char *p = enc; *p; p++)
			ck_assert(
				strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
				       "nopqrstuvwxyz0123456789-._~%",
				       *p));
		ck_assert_int_eq(cloud_name_decode(enc, strlen(enc), dec), 0);
		ck_assert_str_eq(dec, name);
	}
	ck_assert_int_eq(cloud_name_encode("a b%/", enc), -EINVAL);
	ck_assert_int_eq(cloud_name_encode("a b%", enc), 0);
	ck_assert_str_eq(enc, "a%20b%25");
	ck_assert_int_eq(cloud_name_encode("...", enc), 0);
	ck_assert_str_eq(enc, "...");
	memset(name, '\xff', CLOUD_NAME_MAX);
	name[CLOUD_NAME_MAX] = '\0';
	ck_assert_int_eq(cloud_name_encode(name, enc), 0);
	ck_assert_uint_eq(strlen(enc), 3 * CLOUD_NAME_MAX);
}
END_TEST

START_TEST(test_name_decoding_accepts_only_canonical_encodings)
{
	char dec[CLOUD_NAME_MAX + 1], big[1000];
	const char *bad[] = { "",    "%", "%2", "%zz", "%2f", "%41", "a%2Fb",
			      "%2E", ".", "..", "a b", "a+b", "%00", "a/b" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cloud_name_decode(bad[i], strlen(bad[i]), dec) ==
				      -EINVAL,
			      "accepted '%s'", bad[i]);
	memset(big, 'a', 256);
	ck_assert_int_eq(cloud_name_decode(big, 256, dec), -EINVAL);
	ck_assert_int_eq(cloud_name_decode(big, 255, dec), 0);
	ck_assert_int_eq(cloud_name_decode("%2E%2E%2E", 9, dec), -EINVAL);
	ck_assert_int_eq(cloud_name_decode("a%20b", 5, dec), 0);
	ck_assert_str_eq(dec, "a b");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_parse");
	TCase *xml = tcase_create("xml");
	TCase *creds = tcase_create("creds");
	TCase *names = tcase_create("names");
	SRunner *sr;
	int failed;

	/* the chain ends at instance metadata and reads ~/.aws/config: keep
	 * the machine's out of these cases (check_cloud_creds covers both) */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	tcase_add_test(xml, test_xml_list_reads_keys_prefixes_and_token);
	tcase_add_test(xml, test_xml_list_last_page_has_no_token);
	tcase_add_test(xml, test_xml_malformed_or_hostile_input_is_refused);
	tcase_add_test(xml, test_xml_depth_and_sizes_are_bounded);
	tcase_add_test(xml, test_xml_error_code_is_read);
	tcase_add_test(xml, test_xml_callback_can_stop_the_parse);
	tcase_add_test(xml, test_xml_random_input_never_crashes);
	tcase_set_timeout(xml, 60);
	tcase_add_test(creds, test_creds_ini_profiles);
	tcase_add_test(creds, test_creds_environment_comes_first_then_the_file);
	tcase_add_test(creds, test_creds_missing_are_enokey_and_never_logged);
	tcase_add_test(creds,
		       test_creds_file_readable_by_others_is_warned_about);
	tcase_add_test(names, test_name_encoding_round_trips_every_byte);
	tcase_add_test(names,
		       test_name_decoding_accepts_only_canonical_encodings);
	suite_add_tcase(s, xml);
	suite_add_tcase(s, creds);
	suite_add_tcase(s, names);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
