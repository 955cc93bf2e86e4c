/*  config_files: the readers of the files the daemon file names, one
 *  module each (config_directory.c, config_partners.c, config_operators.c,
 *  config_revocations.c, config_keys.c). config_load (config.c) calls them
 *  in order; each adds what it read to the config it is given and reports
 *  every problem through the loader. Internal to config.
 */
#ifndef ZVH_CONFIG_FILES_H
#define ZVH_CONFIG_FILES_H

#include "config_loader.h"

//  Read the directory (config->directory) into config->regions. Returns 0
//  when the file could be read, even with bad entries; -1 when it could not.
int
    config_directory_load (config_t *config, loader_t *loader);

//  Report this daemon's region if the directory lacks it or lists it as a
//  placeholder.
void
    config_directory_check_own_region (config_t *config, loader_t *loader);

//  Read the partners file (config->partners_file): its views, then its
//  partners, each checked against the views and the directory.
void
    config_partners_load (config_t *config, loader_t *loader);

//  Read the operators file named by zvhd/operators, which only a tcp://
//  control endpoint uses.
void
    config_operators_load (config_t *config, loader_t *loader);

//  Report a tcp:// control endpoint without operator keys: it would take
//  any caller.
void
    config_operators_check_control (config_t *config, loader_t *loader);

//  Read the revocation list (config->revoked_file), named at where: one
//  Z85 key a line, optionally quoted; '#' starts a comment line.
void
    config_revocations_load (config_t *config, loader_t *loader, const char *where);

//  Report a secret file (named at where) that is missing or readable by
//  others; how_to_make and why go into the message.
void
    config_keys_check_private (loader_t *loader, const char *where, const char *path,
                               const char *how_to_make, const char *why);

//  Check the region's CURVE certificate (config->secret_key): a secret key
//  that belongs to its public key, which the directory lists for us.
void
    config_keys_check_secret (config_t *config, loader_t *loader);

//  Check the store key file (config->data_key), named at where: private,
//  and 64 hex digits on one line.
void
    config_keys_check_data_key (config_t *config, loader_t *loader, const char *where);

#endif
