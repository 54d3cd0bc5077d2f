#include "image_shims.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

/* A progressive JPEG of a few KB can hold thousands of scans, each a full pass over the
 * coefficients; real encoders write about ten. */
#define MAX_SCANS 256

/* Everything libjpeg touches lives behind one pointer, so nothing the error path reads is a
 * local variable of the function that called setjmp (those are indeterminate after longjmp). */
struct decoder {
    struct jpeg_decompress_struct info;
    struct jpeg_error_mgr errors;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int created;
    int data_cut;          /* the entropy-coded data ended before the image did */
    int data_corrupt;      /* a Huffman code that decodes to nothing */
    unsigned rows_at_cut;  /* output rows written when the data ran out */
    uint8_t *row_cmyk;     /* one CMYK row, freed whichever way decoding ends */
};

static void on_error(j_common_ptr info) {
    struct decoder *dec = (struct decoder *)info->client_data;
    longjmp(dec->jump, 1);
}

/* Warnings are how libjpeg reports truncated and corrupt data; it then fills with grey. */
static void on_message(j_common_ptr info, int level) {
    struct decoder *dec = (struct decoder *)info->client_data;
    if (level >= 0) return;
    if (info->err->msg_code == JWRN_HIT_MARKER && !dec->data_cut) {
        dec->data_cut = 1;
        dec->rows_at_cut = dec->info.output_scanline;
    } else if (info->err->msg_code == JWRN_HUFF_BAD_CODE) {
        dec->data_corrupt = 1;
    }
}

static void on_progress(j_common_ptr info) {
    struct decoder *dec = (struct decoder *)info->client_data;
    if (dec->info.input_scan_number > MAX_SCANS) {
        longjmp(dec->jump, 2);
    }
}

static void describe(struct decoder *dec, int why, char *err, size_t err_length) {
    if (why == 2) {
        snprintf(err, err_length, "progressive JPEG with more than %d scans", MAX_SCANS);
        return;
    }
    if (dec->errors.msg_code == JERR_BAD_PRECISION) {
        snprintf(err, err_length, "%d-bit JPEG: only 8-bit JPEGs are supported", dec->errors.msg_parm.i[0]);
        return;
    }
    char buffer[JMSG_LENGTH_MAX];
    (*dec->errors.format_message)((j_common_ptr)&dec->info, buffer);
    snprintf(err, err_length, "%s", buffer);
}

/* CMYK and YCCK come out as CMYK; Adobe applications store the inks inverted. */
static void cmyk_row_to_rgb(const uint8_t *cmyk, uint8_t *rgb, int width, int inverted) {
    for (int x = 0; x < width; x++) {
        unsigned c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
        if (!inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
        rgb[3 * x] = (uint8_t)((c * k + 127) / 255);
        rgb[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
        rgb[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

/* Runs with all state in `dec`; returns 0, or -1 after writing `err`. */
static int decode(struct decoder *dec, const uint8_t *data, size_t length, uint8_t *out,
                  int *width, int *height, char *err, size_t err_length) {
    struct jpeg_decompress_struct *info = &dec->info;
    info->err = jpeg_std_error(&dec->errors);
    dec->errors.error_exit = on_error;
    dec->errors.emit_message = on_message;
    int why = setjmp(dec->jump);
    if (why != 0) {
        describe(dec, why, err, err_length);
        return -1;
    }
    info->client_data = dec;  /* jpeg_create_decompress keeps it */
    jpeg_create_decompress(info);
    dec->created = 1;
    dec->progress.progress_monitor = on_progress;
    info->progress = &dec->progress;
    jpeg_mem_src(info, data, (unsigned long)length);
    if (jpeg_read_header(info, TRUE) != JPEG_HEADER_OK) {
        snprintf(err, err_length, "no JPEG image");
        return -1;
    }
    if (out == NULL) {
        *width = (int)info->image_width;
        *height = (int)info->image_height;
        return 0;
    }
    int cmyk = info->jpeg_color_space == JCS_CMYK || info->jpeg_color_space == JCS_YCCK;
    info->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(info);
    int components = cmyk ? 4 : 3;
    if ((int)info->output_width != *width || (int)info->output_height != *height || info->output_components != components) {
        snprintf(err, err_length, "unexpected output %ux%u x%d", info->output_width, info->output_height,
                 info->output_components);
        return -1;
    }
    if (cmyk && (dec->row_cmyk = malloc((size_t)*width * 4)) == NULL) {
        snprintf(err, err_length, "out of memory");
        return -1;
    }
    while (info->output_scanline < info->output_height) {
        uint8_t *rgb = out + (size_t)info->output_scanline * (size_t)*width * 3;
        JSAMPROW row = cmyk ? dec->row_cmyk : rgb;
        if (jpeg_read_scanlines(info, &row, 1) != 1) break;
        if (cmyk) cmyk_row_to_rgb(dec->row_cmyk, rgb, *width, info->saw_Adobe_marker);
    }
    if (dec->data_cut) {
        snprintf(err, err_length, "truncated JPEG: the image data ends after %u of %u rows", dec->rows_at_cut,
                 info->output_height);
        return -1;
    }
    if (dec->data_corrupt) {
        snprintf(err, err_length, "corrupt JPEG data (invalid Huffman code)");
        return -1;
    }
    jpeg_finish_decompress(info);
    return 0;
}

static int run(const uint8_t *data, size_t length, uint8_t *out, int *width, int *height, char *err, size_t err_length) {
    struct decoder *dec = calloc(1, sizeof *dec);
    if (dec == NULL) {
        snprintf(err, err_length, "out of memory");
        return -1;
    }
    int rc = decode(dec, data, length, out, width, height, err, err_length);
    if (dec->created) jpeg_destroy_decompress(&dec->info);
    free(dec->row_cmyk);
    free(dec);
    return rc;
}

int segserve_jpeg_size(const uint8_t *data, size_t length, int *width, int *height, char *err, size_t err_length) {
    return run(data, length, NULL, width, height, err, err_length);
}

int segserve_jpeg_decode_rgb(const uint8_t *data, size_t length, uint8_t *out, int width, int height,
                             char *err, size_t err_length) {
    return run(data, length, out, &width, &height, err, err_length);
}
