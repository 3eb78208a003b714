# admin: the caravan command for offline work on a store (fsck, dump,
# stats, backup, restore).  It uses the engine and the cloud, nothing of
# fs/; it is installed beside caravanfs.
bin_PROGRAMS += caravan
caravan_SOURCES = admin/caravan.c admin/history.c admin/history.h \
	admin/snapshot.c admin/snapshot.h
caravan_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) \
	$(CRYPTO_CFLAGS)
caravan_LDADD = cloud/libcloud.a store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(JANSSON_LIBS) $(CURL_LIBS) \
	$(CRYPTO_LIBS) -lm
