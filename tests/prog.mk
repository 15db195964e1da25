# Rules shared by the test programs' Makefiles (tests/*/Makefile).  A Makefile sets
# PROGS (program names, built into tests/bin/) and NAME_SRCS for each, then includes
# this file.  Programs link tests/bin/libvsc.a, which tests/Makefile builds.
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -I../client -I.
LDLIBS  += -lpthread

BIN     := ../bin
OBJDIR  := $(BIN)/obj/$(notdir $(CURDIR))
HDRS    := $(wildcard *.h ../client/*.h)

all: $(addprefix $(BIN)/,$(PROGS))

$(BIN)/libvsc.a: FORCE
	$(MAKE) -C .. bin/libvsc.a

$(OBJDIR)/%.o: %.c $(HDRS)
	@mkdir -p $(OBJDIR)
	$(CC) $(CFLAGS) -c -o $@ $<

.SECONDEXPANSION:
$(addprefix $(BIN)/,$(PROGS)): $(BIN)/%: $$(addprefix $(OBJDIR)/,$$($$*_SRCS:.c=.o)) \
		$(BIN)/libvsc.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

clean:
	rm -rf $(OBJDIR) $(addprefix $(BIN)/,$(PROGS))

FORCE:
.PHONY: all clean FORCE
.SECONDARY:
