/* fx_version: what this build of fexsim is, as Fabric.GetVersion and
 * `fexctl version` tell it.  The protocol's own number is the frame's
 * (frame.h, FRAME_VERSION): this one names the build, for people and for
 * bug reports, and says nothing a client may branch on (the features and
 * methods of GetVersionReply are for that).  Header only. */
#ifndef FX_VERSION_H
#define FX_VERSION_H

#define FX_VERSION_STRING "0.1.0"

#endif
